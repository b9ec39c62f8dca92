//! Fault targets: node sets (`leader`, `one`, `n3`, …) and partition shapes
//! (`majority-minority`, `bridge`, …), resolved to nodes at run time.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Which nodes (or links) a fault hits. Resolved at run time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// One random node.
    One,
    /// The leader (of a random shard when sharded).
    Leader,
    /// The leader of shard N (`leader of shard N`).
    ShardLeader(u32),
    /// The leader of every shard.
    Leaders,
    /// A random majority of the nodes.
    Majority,
    /// A random minority (at least one node).
    Minority,
    All,
    /// Node by id (`n2` or `2`).
    Node(u32),
    // Partition shapes:
    /// Random halves: a majority side and a minority side.
    MajorityMinority,
    /// The leader alone on one side.
    IsolateLeader,
    /// Two halves joined by one node that sees both.
    Bridge,
    /// Each node sees only its ring neighbours.
    Ring,
    /// Random split into two non-empty sides.
    RandomHalves,
}

impl Target {
    pub fn parse(s: &str) -> Option<Target> {
        Some(match s {
            "one" | "random" => Target::One,
            "leader" => Target::Leader,
            "leaders" => Target::Leaders,
            "majority" => Target::Majority,
            "minority" => Target::Minority,
            "all" => Target::All,
            "majority-minority" => Target::MajorityMinority,
            "isolate-leader" => Target::IsolateLeader,
            "bridge" => Target::Bridge,
            "ring" => Target::Ring,
            "random-halves" => Target::RandomHalves,
            other if other.starts_with("leader of shard ") => {
                return other["leader of shard ".len()..]
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .map(Target::ShardLeader);
            }
            other => {
                let digits = other.strip_prefix('n').unwrap_or(other);
                return digits.parse().ok().filter(|n| *n >= 1).map(Target::Node);
            }
        })
    }
    pub fn is_partition_shape(&self) -> bool {
        matches!(
            self,
            Target::MajorityMinority
                | Target::IsolateLeader
                | Target::Bridge
                | Target::Ring
                | Target::RandomHalves
        ) || self.is_node_set()
    }
    pub fn is_node_set(&self) -> bool {
        matches!(
            self,
            Target::One
                | Target::Leader
                | Target::ShardLeader(_)
                | Target::Leaders
                | Target::Majority
                | Target::Minority
                | Target::All
                | Target::Node(_)
        )
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Target::One => "one",
            Target::Leader => "leader",
            Target::Majority => "majority",
            Target::Minority => "minority",
            Target::All => "all",
            Target::Node(n) => return write!(f, "n{n}"),
            Target::ShardLeader(n) => return write!(f, "leader of shard {n}"),
            Target::Leaders => "leaders",
            Target::MajorityMinority => "majority-minority",
            Target::IsolateLeader => "isolate-leader",
            Target::Bridge => "bridge",
            Target::Ring => "ring",
            Target::RandomHalves => "random-halves",
        };
        f.write_str(s)
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Target, D::Error> {
        let s = String::deserialize(d)?;
        Target::parse(&s).ok_or_else(|| {
            de::Error::custom(format!(
                "unknown target {s:?}: expected one, leader, leaders, leader of shard N, majority, minority, all, n<ID>, \
                 majority-minority, isolate-leader, bridge, ring or random-halves"
            ))
        })
    }
}
