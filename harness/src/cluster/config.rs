//! The files the harness writes for `sdr-node`: one `node.yaml` per node and
//! `admin.yaml` for `sdr-node admin --cluster` (docs/chaos.md).
//!
//! Each file is a typed struct serialised with serde-saphyr, so quoting,
//! indentation and escaping are the serialiser's job, not string pasting; the
//! field names are the node's config keys (docs/replication.md, config/default.yaml).
//! Pure: building and rendering only; the cluster writes the text to disk.

use crate::scenario::Scalar;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// A multi-node `node.yaml`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct NodeFile {
    pub node_id: u32,
    pub data_dir: String,
    pub bind: String,
    pub port: u16,
    /// The scenario's `node:` options (keys as written there, kebab-case).
    #[serde(flatten)]
    pub options: BTreeMap<String, Scalar>,
    pub cluster: ClusterSection,
}

/// The `cluster:` section of a node file or of `admin.yaml`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ClusterSection {
    pub id: String,
    pub secret: String,
    /// Where this node listens for peers (absent in `admin.yaml`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raft_listen: Option<SocketAddr>,
    #[serde(flatten)]
    pub groups: Groups,
}

/// One group (`members:`) or several (`shards:`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Groups {
    Members(Vec<Member>),
    Shards(Vec<Shard>),
}

/// One shard of a sharded cluster file.
#[derive(Clone, Debug, Serialize)]
pub struct Shard {
    pub id: u32,
    pub members: Vec<Member>,
}

/// A member as seen from the file's reader: `raft` and `client` are the
/// addresses *that reader* uses (a proxy for a node, direct for admin).
#[derive(Clone, Debug, Serialize)]
pub struct Member {
    pub id: u32,
    pub raft: SocketAddr,
    pub client: SocketAddr,
}

/// `admin.yaml`.
#[derive(Clone, Debug, Serialize)]
pub struct AdminFile {
    pub cluster: ClusterSection,
}

/// Why a file could not be rendered.
#[derive(Debug, thiserror::Error)]
#[error("rendering {what}: {message}")]
pub struct RenderError {
    pub what: String,
    pub message: String,
}

fn render<T: Serialize>(header: &str, value: &T, what: &str) -> Result<String, RenderError> {
    let body = serde_saphyr::to_string(value).map_err(|e| RenderError {
        what: what.to_string(),
        message: e.to_string(),
    })?;
    Ok(format!("{header}{body}"))
}

/// Node options as they go into a config file: a list (only possible for
/// keys the node takes as comma-separated text) is written joined by commas.
pub fn file_options(options: &BTreeMap<String, Scalar>) -> BTreeMap<String, Scalar> {
    options
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Scalar::List(items) => Scalar::Str(items.join(",")),
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

impl NodeFile {
    pub fn render(&self) -> Result<String, RenderError> {
        render("", self, &format!("node.yaml of n{}", self.node_id))
    }
}

impl AdminFile {
    pub fn render(&self) -> Result<String, RenderError> {
        render(
            "# for `sdr-node admin … --cluster admin.yaml` (direct addresses, not proxied)\n",
            self,
            "admin.yaml",
        )
    }
}

/// A single node's `node.yaml`: only the scenario's options (bind, port and
/// data dir are passed as flags so the first start can use port 0).
pub fn single_node_file(options: &BTreeMap<String, Scalar>) -> Result<String, RenderError> {
    let header = "# single node: bind, port and data-dir are passed as flags\n";
    if options.is_empty() {
        return Ok(header.to_string());
    }
    render(header, &file_options(options), "node.yaml")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    fn member(id: u32) -> Member {
        Member {
            id,
            raft: addr(7000 + id as u16),
            client: addr(6000 + id as u16),
        }
    }

    fn yaml(text: &str) -> serde_json::Value {
        serde_saphyr::from_str(text).expect("the rendered file is YAML")
    }

    #[test]
    fn node_file_has_the_node_config_shape() {
        let mut options = BTreeMap::new();
        options.insert("fsync".to_string(), Scalar::Str("always".into()));
        options.insert("snapshot-every".to_string(), Scalar::Int(1000));
        options.insert("forward-to-leader".to_string(), Scalar::Bool(true));
        let f = NodeFile {
            node_id: 2,
            data_dir: "/tmp/run dir/n2/data: \"x\"".into(),
            bind: "127.0.0.1".into(),
            port: 6002,
            options: file_options(&options),
            cluster: ClusterSection {
                id: "chaos".into(),
                secret: "secret-chaos".into(),
                raft_listen: Some(addr(7002)),
                groups: Groups::Members(vec![member(1), member(2)]),
            },
        };
        let v = yaml(&f.render().expect("renders"));
        assert_eq!(
            v,
            serde_json::json!({
                "node-id": 2,
                "data-dir": "/tmp/run dir/n2/data: \"x\"",
                "bind": "127.0.0.1",
                "port": 6002,
                "fsync": "always",
                "snapshot-every": 1000,
                "forward-to-leader": true,
                "cluster": {
                    "id": "chaos",
                    "secret": "secret-chaos",
                    "raft-listen": "127.0.0.1:7002",
                    "members": [
                        {"id": 1, "raft": "127.0.0.1:7001", "client": "127.0.0.1:6001"},
                        {"id": 2, "raft": "127.0.0.1:7002", "client": "127.0.0.1:6002"}
                    ]
                }
            })
        );
    }

    #[test]
    fn admin_file_with_shards() {
        let f = AdminFile {
            cluster: ClusterSection {
                id: "c".into(),
                secret: "s".into(),
                raft_listen: None,
                groups: Groups::Shards(vec![
                    Shard {
                        id: 1,
                        members: vec![member(1)],
                    },
                    Shard {
                        id: 2,
                        members: vec![member(2)],
                    },
                ]),
            },
        };
        let text = f.render().expect("renders");
        assert!(text.starts_with("# for `sdr-node admin"));
        let v = yaml(&text);
        assert_eq!(v["cluster"]["shards"][1]["id"], 2);
        assert_eq!(
            v["cluster"]["shards"][1]["members"][0]["raft"],
            "127.0.0.1:7002"
        );
        assert!(v["cluster"].get("raft-listen").is_none());
        assert!(v["cluster"].get("members").is_none());
    }

    #[test]
    fn single_node_options_and_lists() {
        assert!(single_node_file(&BTreeMap::new())
            .expect("renders")
            .starts_with('#'));
        let mut options = BTreeMap::new();
        options.insert("fsync".to_string(), Scalar::Str("never".into()));
        options.insert("x".to_string(), Scalar::List(vec!["a".into(), "b".into()]));
        let v = yaml(&single_node_file(&options).expect("renders"));
        assert_eq!(v, serde_json::json!({"fsync": "never", "x": "a,b"}));
    }
}
