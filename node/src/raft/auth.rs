//! Peer authentication: every Raft and admin RPC carries the cluster id and the shared secret
//! as gRPC metadata. The server rejects a wrong cluster id (`FAILED_PRECONDITION`, so a
//! misconfigured peer is easy to tell apart) and a wrong secret (`UNAUTHENTICATED`). The
//! secret is compared in constant time. See docs/security.md for the threat model.
//!
//! On the server the check runs as a tonic interceptor ([`PeerAuth`] implements
//! [`tonic::service::Interceptor`]): it sees only the request's metadata (HTTP/2 headers) and
//! rejects before the message body is read or decoded, so an unauthenticated client cannot
//! make the node buffer a 64 MiB AppendEntries.

use tonic::metadata::MetadataValue;
use tonic::{Request, Status};

pub const CLUSTER_HEADER: &str = "x-sdr-cluster";
pub const SECRET_HEADER: &str = "x-sdr-secret";

/// The credentials of one cluster; cheap to clone.
#[derive(Clone, Debug)]
pub struct PeerAuth {
    pub cluster_id: String,
    pub secret: String,
}

impl PeerAuth {
    /// Adds the credentials to an outgoing request.
    pub fn stamp<T>(&self, req: &mut Request<T>) -> Result<(), Status> {
        let id = MetadataValue::try_from(self.cluster_id.as_str())
            .map_err(|_| Status::invalid_argument("cluster id is not valid metadata"))?;
        let secret = MetadataValue::try_from(self.secret.as_str())
            .map_err(|_| Status::invalid_argument("cluster secret is not valid metadata"))?;
        req.metadata_mut().insert(CLUSTER_HEADER, id);
        req.metadata_mut().insert(SECRET_HEADER, secret);
        Ok(())
    }

    /// Checks an incoming request's credentials.
    pub fn check<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let md = req.metadata();
        let id = md
            .get(CLUSTER_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if id != self.cluster_id {
            return Err(Status::failed_precondition(format!(
                "cluster id mismatch: this node belongs to '{}', the request came from '{id}'",
                self.cluster_id
            )));
        }
        let secret = md.get(SECRET_HEADER).map(|v| v.as_bytes()).unwrap_or(b"");
        if !constant_time_eq(secret, self.secret.as_bytes()) {
            return Err(Status::unauthenticated("wrong cluster secret"));
        }
        Ok(())
    }
}

impl tonic::service::Interceptor for PeerAuth {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        self.check(&req)?;
        Ok(req)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_own_and_rejects_others() {
        let a = PeerAuth {
            cluster_id: "c1".into(),
            secret: "s".into(),
        };
        let mut req = Request::new(());
        a.stamp(&mut req).unwrap();
        assert!(a.check(&req).is_ok());
        let other = PeerAuth {
            cluster_id: "c2".into(),
            secret: "s".into(),
        };
        assert_eq!(
            other.check(&req).unwrap_err().code(),
            tonic::Code::FailedPrecondition
        );
        let wrong = PeerAuth {
            cluster_id: "c1".into(),
            secret: "x".into(),
        };
        assert_eq!(
            wrong.check(&req).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert!(
            a.check(&Request::new(())).is_err(),
            "no credentials, no entry"
        );
    }
}
