//! The command table (every command the node serves, data and server-layer) and the
//! `COMMAND` family of replies in Redis 7 shapes.
//!
//! The table is sorted by name so [`super::lookup`] can binary-search it; a unit test keeps it
//! sorted. Arity, flags, key positions and `since` follow Redis 7.2.

use bytes::Bytes;

use super::{eq, glob, key_indices, lookup, CommandSpec, Group, Kind};
use crate::resp::Frame;

const R: &[&str] = &["readonly"];
const RF: &[&str] = &["readonly", "fast"];
const W: &[&str] = &["write"];
const WF: &[&str] = &["write", "fast"];
const WD: &[&str] = &["write", "denyoom"];
const WDF: &[&str] = &["write", "denyoom", "fast"];
const FAST: &[&str] = &["fast"];
const LS: &[&str] = &["loading", "stale"];
const LSF: &[&str] = &["loading", "stale", "fast"];
const NOAUTH: &[&str] = &[
    "noscript",
    "loading",
    "stale",
    "fast",
    "no_auth",
    "allow_busy",
];
const NONE: &[&str] = &[];
const TX: &[&str] = &["noscript", "loading", "stale", "skip_slowlog"];
const TX_FAST: &[&str] = &["noscript", "loading", "stale", "fast", "allow_busy"];
const PS: &[&str] = &["pubsub", "noscript", "loading", "stale"];
const PUB: &[&str] = &["pubsub", "loading", "stale", "fast", "may_replicate"];
const RM: &[&str] = &["readonly", "movablekeys"];
const WM: &[&str] = &["write", "movablekeys"];
const NS: &[&str] = &["noscript"];
const WNB: &[&str] = &["write", "noscript", "blocking"];
const WDNB: &[&str] = &["write", "denyoom", "noscript", "blocking"];
const WNBF: &[&str] = &["write", "noscript", "blocking", "fast"];
const WDM: &[&str] = &["write", "denyoom", "movablekeys"];
const RBM: &[&str] = &["readonly", "blocking", "movablekeys"];
const WBM: &[&str] = &["write", "blocking", "movablekeys"];
const EVAL: &[&str] = &[
    "noscript",
    "stale",
    "skip_monitor",
    "may_replicate",
    "no_mandatory_keys",
    "movablekeys",
];
const EVAL_RO: &[&str] = &[
    "readonly",
    "noscript",
    "stale",
    "skip_monitor",
    "no_mandatory_keys",
    "movablekeys",
];
const SCRIPT: &[&str] = &["noscript"];

#[allow(clippy::too_many_arguments)]
const fn c(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    keys: (i64, i64, i64),
    kind: Kind,
    group: Group,
    since: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        kind,
        group,
        summary,
        since,
    }
}

use Group as G;
use Kind::{Read, Server, Write};
const K1: (i64, i64, i64) = (1, 1, 1);
const KALL: (i64, i64, i64) = (1, -1, 1);
const K0: (i64, i64, i64) = (0, 0, 0);

static TABLE: &[CommandSpec] = &[
    c("append", 3, WD, K1, Write, G::Str, "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist."),
    c("auth", -2, NOAUTH, K0, Server, G::Connection, "1.0.0", "Authenticates the connection."),
    c("bitcount", -2, R, K1, Read, G::Bitmap, "2.6.0", "Counts the number of set bits (population counting) in a string."),
    c("bitfield", -2, WD, K1, Write, G::Bitmap, "3.2.0", "Performs arbitrary bitfield integer operations on strings."),
    c("bitfield_ro", -2, RF, K1, Read, G::Bitmap, "6.0.0", "Performs arbitrary read-only bitfield integer operations on strings."),
    c("bitop", -4, WD, (2, -1, 1), Write, G::Bitmap, "2.6.0", "Performs bitwise operations on multiple strings, and stores the result."),
    c("bitpos", -3, R, K1, Read, G::Bitmap, "2.8.7", "Finds the first set (1) or clear (0) bit in a string."),
    c("blmove", 6, WDNB, (1, 2, 1), Write, G::List, "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved."),
    c("blmpop", -5, WBM, K0, Write, G::List, "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    c("blpop", -3, WNB, (1, -2, 1), Write, G::List, "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    c("brpop", -3, WNB, (1, -2, 1), Write, G::List, "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    c("brpoplpush", 4, WDNB, (1, 2, 1), Write, G::List, "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped."),
    c("bzmpop", -5, WBM, K0, Write, G::SortedSet, "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
    c("bzpopmax", -3, WNBF, (1, -2, 1), Write, G::SortedSet, "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped."),
    c("bzpopmin", -3, WNBF, (1, -2, 1), Write, G::SortedSet, "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
    c("client", -2, NONE, K0, Server, G::Connection, "2.4.0", "A container for client connection commands."),
    c("cluster", -2, NONE, K0, Server, G::Cluster, "3.0.0", "A container for Redis Cluster commands."),
    c("command", -1, LS, K0, Server, G::Server, "2.8.13", "Returns detailed information about all commands."),
    c("config", -2, NONE, K0, Server, G::Server, "2.0.0", "A container for server configuration commands."),
    c("copy", -3, WD, (1, 2, 1), Write, G::Generic, "6.2.0", "Copies the value of a key to a new key."),
    c("dbsize", 1, RF, K0, Read, G::Server, "1.0.0", "Returns the number of keys in the database."),
    c("debug", -2, &["admin", "noscript", "loading", "stale"], K0, Server, G::Server, "1.0.0", "A container for debugging commands."),
    c("decr", 2, WDF, K1, Write, G::Str, "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    c("decrby", 3, WDF, K1, Write, G::Str, "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist."),
    c("del", -2, W, KALL, Write, G::Generic, "1.0.0", "Deletes one or more keys."),
    c("discard", 1, TX_FAST, K0, Server, G::Transactions, "2.0.0", "Discards a transaction."),
    c("dump", 2, R, K1, Read, G::Generic, "2.6.0", "Returns a serialized representation of the value stored at a key."),
    c("echo", 2, FAST, K0, Server, G::Connection, "1.0.0", "Returns the given string."),
    c("eval", -3, EVAL, K0, Server, G::Scripting, "2.6.0", "Executes a server-side Lua script."),
    c("eval_ro", -3, EVAL_RO, K0, Server, G::Scripting, "7.0.0", "Executes a read-only server-side Lua script."),
    c("evalsha", -3, EVAL, K0, Server, G::Scripting, "2.6.0", "Executes a server-side Lua script by SHA1 digest."),
    c("evalsha_ro", -3, EVAL_RO, K0, Server, G::Scripting, "7.0.0", "Executes a read-only server-side Lua script by SHA1 digest."),
    c("exec", 1, TX, K0, Server, G::Transactions, "1.2.0", "Executes all commands in a transaction."),
    c("exists", -2, RF, KALL, Read, G::Generic, "3.0.3", "Determines whether one or more keys exist."),
    c("expire", -3, WF, K1, Write, G::Generic, "1.0.0", "Sets the expiration time of a key in seconds."),
    c("expireat", -3, WF, K1, Write, G::Generic, "1.2.0", "Sets the expiration time of a key to a Unix timestamp."),
    c("expiretime", 2, RF, K1, Read, G::Generic, "7.0.0", "Returns the expiration time of a key as a Unix timestamp."),
    c("fcall", -3, EVAL, K0, Server, G::Scripting, "7.0.0", "Invokes a function."),
    c("fcall_ro", -3, EVAL_RO, K0, Server, G::Scripting, "7.0.0", "Invokes a read-only function."),
    c("flushall", -1, W, K0, Write, G::Server, "1.0.0", "Removes all keys from all databases."),
    c("flushdb", -1, W, K0, Write, G::Server, "1.0.0", "Remove all keys from the current database."),
    c("function", -2, SCRIPT, K0, Server, G::Scripting, "7.0.0", "A container for function commands."),
    c("geoadd", -5, WD, K1, Write, G::Geo, "3.2.0", "Adds one or more members to a geospatial index. The key is created if it doesn't exist."),
    c("geodist", -4, R, K1, Read, G::Geo, "3.2.0", "Returns the distance between two members of a geospatial index."),
    c("geohash", -2, R, K1, Read, G::Geo, "3.2.0", "Returns members from a geospatial index as geohash strings."),
    c("geopos", -2, R, K1, Read, G::Geo, "3.2.0", "Returns the longitude and latitude of members from a geospatial index."),
    c("georadius", -6, WDM, K1, Write, G::Geo, "3.2.0", "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result."),
    c("georadius_ro", -6, R, K1, Read, G::Geo, "3.2.10", "Returns members from a geospatial index that are within a distance from a coordinate."),
    c("georadiusbymember", -5, WDM, K1, Write, G::Geo, "3.2.0", "Queries a geospatial index for members within a distance from a member, optionally stores the result."),
    c("georadiusbymember_ro", -5, R, K1, Read, G::Geo, "3.2.10", "Returns members from a geospatial index that are within a distance from a member."),
    c("geosearch", -7, R, K1, Read, G::Geo, "6.2.0", "Queries a geospatial index for members inside an area of a box or a circle."),
    c("geosearchstore", -8, WD, (1, 2, 1), Write, G::Geo, "6.2.0", "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result."),
    c("get", 2, RF, K1, Read, G::Str, "1.0.0", "Returns the string value of a key."),
    c("getbit", 3, RF, K1, Read, G::Bitmap, "2.2.0", "Returns a bit value by offset."),
    c("getdel", 2, WF, K1, Write, G::Str, "6.2.0", "Returns the string value of a key after deleting the key."),
    c("getex", -2, WF, K1, Write, G::Str, "6.2.0", "Returns the string value of a key after setting its expiration time."),
    c("getrange", 4, R, K1, Read, G::Str, "2.4.0", "Returns a substring of the string stored at a key."),
    c("getset", 3, WDF, K1, Write, G::Str, "1.0.0", "Returns the previous string value of a key after setting it to a new value."),
    c("hdel", -3, WF, K1, Write, G::Hash, "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain."),
    c("hello", -1, NOAUTH, K0, Server, G::Connection, "6.0.0", "Handshakes with the Redis server."),
    c("hexists", 3, RF, K1, Read, G::Hash, "2.0.0", "Determines whether a field exists in a hash."),
    c("hget", 3, RF, K1, Read, G::Hash, "2.0.0", "Returns the value of a field in a hash."),
    c("hgetall", 2, R, K1, Read, G::Hash, "2.0.0", "Returns all fields and values in a hash."),
    c("hincrby", 4, WDF, K1, Write, G::Hash, "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist."),
    c("hincrbyfloat", 4, WDF, K1, Write, G::Hash, "2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist."),
    c("hkeys", 2, R, K1, Read, G::Hash, "2.0.0", "Returns all fields in a hash."),
    c("hlen", 2, RF, K1, Read, G::Hash, "2.0.0", "Returns the number of fields in a hash."),
    c("hmget", -3, RF, K1, Read, G::Hash, "2.0.0", "Returns the values of all fields in a hash."),
    c("hmset", -4, WDF, K1, Write, G::Hash, "2.0.0", "Sets the values of multiple fields."),
    c("hrandfield", -2, R, K1, Read, G::Hash, "6.2.0", "Returns one or more random fields from a hash."),
    c("hscan", -3, R, K1, Read, G::Hash, "2.8.0", "Iterates over fields and values of a hash."),
    c("hset", -4, WDF, K1, Write, G::Hash, "2.0.0", "Creates or modifies the value of a field in a hash."),
    c("hsetnx", 4, WDF, K1, Write, G::Hash, "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist."),
    c("hstrlen", 3, RF, K1, Read, G::Hash, "3.2.0", "Returns the length of the value of a field."),
    c("hvals", 2, R, K1, Read, G::Hash, "2.0.0", "Returns all values in a hash."),
    c("idempotent", -5, W, K0, Write, G::Sdr, "sdr-0.1", "Applies a write at most once per (client id, sequence number); a retry returns the first reply."),
    c("incr", 2, WDF, K1, Write, G::Str, "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    c("incrby", 3, WDF, K1, Write, G::Str, "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
    c("incrbyfloat", 3, WDF, K1, Write, G::Str, "2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
    c("info", -1, LS, K0, Server, G::Server, "1.0.0", "Returns information and statistics about the server."),
    c("keys", 2, R, K0, Read, G::Generic, "1.0.0", "Returns all key names that match a pattern."),
    c("lindex", 3, R, K1, Read, G::List, "1.0.0", "Returns an element from a list by its index."),
    c("linsert", 5, WD, K1, Write, G::List, "2.2.0", "Inserts an element before or after another element in a list."),
    c("llen", 2, RF, K1, Read, G::List, "1.0.0", "Returns the length of a list."),
    c("lmove", 5, WD, (1, 2, 1), Write, G::List, "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved."),
    c("lmpop", -4, WM, K0, Write, G::List, "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped."),
    c("lpop", -2, WF, K1, Write, G::List, "1.0.0", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped."),
    c("lpos", -3, R, K1, Read, G::List, "6.0.6", "Returns the index of matching elements in a list."),
    c("lpush", -3, WDF, K1, Write, G::List, "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist."),
    c("lpushx", -3, WDF, K1, Write, G::List, "2.2.0", "Prepends one or more elements to a list only when the list exists."),
    c("lrange", 4, R, K1, Read, G::List, "1.0.0", "Returns a range of elements from a list."),
    c("lrem", 4, W, K1, Write, G::List, "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed."),
    c("lset", 4, WD, K1, Write, G::List, "1.0.0", "Sets the value of an element in a list by its index."),
    c("ltrim", 4, W, K1, Write, G::List, "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed."),
    c("memory", -2, NONE, K0, Read, G::Generic, "4.0.0", "A container for memory diagnostics commands."),
    c("mget", -2, RF, KALL, Read, G::Str, "1.0.0", "Atomically returns the string values of one or more keys."),
    c("move", 3, WF, K1, Write, G::Generic, "1.0.0", "Moves a key to another database."),
    c("mset", -3, WD, (1, -1, 2), Write, G::Str, "1.0.1", "Atomically creates or modifies the string values of one or more keys."),
    c("msetnx", -3, WD, (1, -1, 2), Write, G::Str, "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist."),
    c("multi", 1, TX_FAST, K0, Server, G::Transactions, "1.2.0", "Starts a transaction."),
    c("object", -2, NONE, K0, Read, G::Generic, "2.2.3", "A container for object introspection commands."),
    c("persist", 2, WF, K1, Write, G::Generic, "2.2.0", "Removes the expiration time of a key."),
    c("pexpire", -3, WF, K1, Write, G::Generic, "2.6.0", "Sets the expiration time of a key in milliseconds."),
    c("pexpireat", -3, WF, K1, Write, G::Generic, "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp."),
    c("pexpiretime", 2, RF, K1, Read, G::Generic, "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp."),
    c("pfadd", -2, WDF, K1, Write, G::HyperLogLog, "2.8.9", "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist."),
    c("pfcount", -2, &["readonly", "may_replicate"], KALL, Write, G::HyperLogLog, "2.8.9", "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s)."),
    c("pfdebug", 3, &["write", "denyoom", "admin"], (2, 2, 1), Write, G::HyperLogLog, "2.8.9", "Internal commands for debugging HyperLogLog values."),
    c("pfmerge", -2, WD, KALL, Write, G::HyperLogLog, "2.8.9", "Merges one or more HyperLogLog values into a single key."),
    c("pfselftest", 1, &["admin"], K0, Read, G::HyperLogLog, "2.8.9", "An internal command for testing HyperLogLog values."),
    c("ping", -1, FAST, K0, Server, G::Connection, "1.0.0", "Returns the server's liveliness response."),
    c("psetex", 4, WD, K1, Write, G::Str, "2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist."),
    c("psubscribe", -2, PS, K0, Server, G::PubSub, "2.0.0", "Listens for messages published to channels that match one or more patterns."),
    c("pttl", 2, RF, K1, Read, G::Generic, "2.6.0", "Returns the expiration time in milliseconds of a key."),
    c("publish", 3, PUB, K0, Server, G::PubSub, "2.0.0", "Posts a message to a channel."),
    c("pubsub", -2, NONE, K0, Server, G::PubSub, "2.8.0", "A container for Pub/Sub commands."),
    c("punsubscribe", -1, PS, K0, Server, G::PubSub, "2.0.0", "Stops listening to messages published to channels that match one or more patterns."),
    c("quit", -1, &["allow_busy", "noscript", "loading", "stale", "fast", "no_auth"], K0, Server, G::Connection, "1.0.0", "Closes the connection."),
    c("randomkey", 1, R, K0, Read, G::Generic, "1.0.0", "Returns a random key name from the database."),
    c("readonly", 1, LSF, K0, Server, G::Cluster, "3.0.0", "Enables read-only queries for a connection to a Redis Cluster replica node."),
    c("readwrite", 1, LSF, K0, Server, G::Cluster, "3.0.0", "Enables read-write queries for a connection to a Redis Cluster replica node."),
    c("rename", 3, W, (1, 2, 1), Write, G::Generic, "1.0.0", "Renames a key and overwrites the destination."),
    c("renamenx", 3, WF, (1, 2, 1), Write, G::Generic, "1.0.0", "Renames a key only when the target key name doesn't exist."),
    c("reset", 1, &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"], K0, Server, G::Connection, "6.2.0", "Resets the connection."),
    c("restore", -4, WD, K1, Write, G::Generic, "2.6.0", "Creates a key from the serialized representation of a value."),
    c("rpop", -2, WF, K1, Write, G::List, "1.0.0", "Returns and removes the last elements of a list. Deletes the list if the last element was popped."),
    c("rpoplpush", 3, WD, (1, 2, 1), Write, G::List, "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped."),
    c("rpush", -3, WDF, K1, Write, G::List, "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist."),
    c("rpushx", -3, WDF, K1, Write, G::List, "2.2.0", "Appends an element to a list only when the list exists."),
    c("sadd", -3, WDF, K1, Write, G::Set, "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist."),
    c("scan", -2, R, K0, Read, G::Generic, "2.8.0", "Iterates over the key names in the database."),
    c("scard", 2, RF, K1, Read, G::Set, "1.0.0", "Returns the number of members in a set."),
    c("script", -2, SCRIPT, K0, Server, G::Scripting, "2.6.0", "A container for Lua scripts management commands."),
    c("sdiff", -2, R, KALL, Read, G::Set, "1.0.0", "Returns the difference of multiple sets."),
    c("sdiffstore", -3, WD, KALL, Write, G::Set, "1.0.0", "Stores the difference of multiple sets in a key."),
    c("select", 2, LSF, K0, Server, G::Connection, "2.0.0", "Changes the selected database."),
    c("set", -3, WD, K1, Write, G::Str, "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist."),
    c("setbit", 4, WD, K1, Write, G::Bitmap, "2.2.0", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist."),
    c("setex", 4, WD, K1, Write, G::Str, "2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist."),
    c("setnx", 3, WDF, K1, Write, G::Str, "1.0.0", "Set the string value of a key only when the key doesn't exist."),
    c("setrange", 4, WD, K1, Write, G::Str, "2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist."),
    c("sinter", -2, R, KALL, Read, G::Set, "1.0.0", "Returns the intersect of multiple sets."),
    c("sintercard", -3, RM, K0, Read, G::Set, "7.0.0", "Returns the number of members of the intersect of multiple sets."),
    c("sinterstore", -3, WD, KALL, Write, G::Set, "1.0.0", "Stores the intersect of multiple sets in a key."),
    c("sismember", 3, RF, K1, Read, G::Set, "1.0.0", "Determines whether a member belongs to a set."),
    c("smembers", 2, R, K1, Read, G::Set, "1.0.0", "Returns all members of a set."),
    c("smismember", -3, RF, K1, Read, G::Set, "6.2.0", "Determines whether multiple members belong to a set."),
    c("smove", 4, WF, (1, 2, 1), Write, G::Set, "1.0.0", "Moves a member from one set to another."),
    c("sort", -2, WDM, K1, Write, G::Generic, "1.0.0", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result."),
    c("sort_ro", -2, RM, K1, Read, G::Generic, "7.0.0", "Returns the sorted elements of a list, a set, or a sorted set."),
    c("spop", -2, WF, K1, Write, G::Set, "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped."),
    c("spublish", 3, PUB, K1, Server, G::PubSub, "7.0.0", "Post a message to a shard channel"),
    c("srandmember", -2, R, K1, Read, G::Set, "1.0.0", "Get one or multiple random members from a set"),
    c("srem", -3, WF, K1, Write, G::Set, "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed."),
    c("sscan", -3, R, K1, Read, G::Set, "2.8.0", "Iterates over members of a set."),
    c("ssubscribe", -2, PS, KALL, Server, G::PubSub, "7.0.0", "Listens for messages published to shard channels."),
    c("strlen", 2, RF, K1, Read, G::Str, "2.2.0", "Returns the length of a string value."),
    c("subscribe", -2, PS, K0, Server, G::PubSub, "2.0.0", "Listens for messages published to channels."),
    c("substr", 4, R, K1, Read, G::Str, "1.0.0", "Returns a substring from a string value."),
    c("sunion", -2, R, KALL, Read, G::Set, "1.0.0", "Returns the union of multiple sets."),
    c("sunionstore", -3, WD, KALL, Write, G::Set, "1.0.0", "Stores the union of multiple sets in a key."),
    c("sunsubscribe", -1, PS, KALL, Server, G::PubSub, "7.0.0", "Stops listening to messages posted to shard channels."),
    c("swapdb", 3, WF, K0, Write, G::Server, "4.0.0", "Swaps two Redis databases."),
    c("time", 1, LSF, K0, Server, G::Server, "2.6.0", "Returns the server time."),
    c("touch", -2, RF, KALL, Read, G::Generic, "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed."),
    c("ttl", 2, RF, K1, Read, G::Generic, "1.0.0", "Returns the expiration time in seconds of a key."),
    c("type", 2, RF, K1, Read, G::Generic, "1.0.0", "Determines the type of value stored at a key."),
    c("unlink", -2, WF, KALL, Write, G::Generic, "4.0.0", "Asynchronously deletes one or more keys."),
    c("unsubscribe", -1, PS, K0, Server, G::PubSub, "2.0.0", "Stops listening to messages posted to channels."),
    c("unwatch", 1, TX_FAST, K0, Server, G::Transactions, "2.2.0", "Forgets about watched keys of a transaction."),
    c("wait", 3, NS, K0, Server, G::Generic, "3.0.0", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed."),
    c("watch", -2, TX_FAST, KALL, Server, G::Transactions, "2.2.0", "Monitors changes to keys to determine the execution of a transaction."),
    c("xack", -4, WF, K1, Write, G::Stream, "5.0.0", "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream."),
    c("xadd", -5, WDF, K1, Write, G::Stream, "5.0.0", "Appends a new message to a stream. Creates the key if it doesn't exist."),
    c("xautoclaim", -6, WF, K1, Write, G::Stream, "6.2.0", "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member."),
    c("xclaim", -6, WF, K1, Write, G::Stream, "5.0.0", "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member."),
    c("xdel", -3, WF, K1, Write, G::Stream, "5.0.0", "Returns the number of messages after removing them from a stream."),
    c("xgroup", -2, NONE, K0, Write, G::Stream, "5.0.0", "A container for consumer groups commands."),
    c("xinfo", -2, NONE, K0, Read, G::Stream, "5.0.0", "A container for stream introspection commands."),
    c("xlen", 2, RF, K1, Read, G::Stream, "5.0.0", "Return the number of messages in a stream."),
    c("xpending", -3, R, K1, Read, G::Stream, "5.0.0", "Returns the information and entries from a stream consumer group's pending entries list."),
    c("xrange", -4, R, K1, Read, G::Stream, "5.0.0", "Returns the messages from a stream within a range of IDs."),
    c("xread", -4, RBM, K0, Read, G::Stream, "5.0.0", "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise."),
    c("xreadgroup", -7, WBM, K0, Write, G::Stream, "5.0.0", "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise."),
    c("xrevrange", -4, R, K1, Read, G::Stream, "5.0.0", "Returns the messages from a stream within a range of IDs in reverse order."),
    c("xsetid", -3, WDF, K1, Write, G::Stream, "5.0.0", "An internal command for replicating stream values."),
    c("xtrim", -4, W, K1, Write, G::Stream, "5.0.0", "Deletes messages from the beginning of a stream."),
    c("zadd", -4, WDF, K1, Write, G::SortedSet, "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist."),
    c("zcard", 2, RF, K1, Read, G::SortedSet, "1.2.0", "Returns the number of members in a sorted set."),
    c("zcount", 4, RF, K1, Read, G::SortedSet, "2.0.0", "Returns the count of members in a sorted set that have scores within a range."),
    c("zdiff", -3, RM, K0, Read, G::SortedSet, "6.2.0", "Returns the difference between multiple sorted sets."),
    c("zdiffstore", -4, WDM, K1, Write, G::SortedSet, "6.2.0", "Stores the difference of multiple sorted sets in a key."),
    c("zincrby", 4, WDF, K1, Write, G::SortedSet, "1.2.0", "Increments the score of a member in a sorted set."),
    c("zinter", -3, RM, K0, Read, G::SortedSet, "6.2.0", "Returns the intersect of multiple sorted sets."),
    c("zintercard", -3, RM, K0, Read, G::SortedSet, "7.0.0", "Returns the number of members of the intersect of multiple sorted sets."),
    c("zinterstore", -4, WDM, K1, Write, G::SortedSet, "2.0.0", "Stores the intersect of multiple sorted sets in a key."),
    c("zlexcount", 4, RF, K1, Read, G::SortedSet, "2.8.9", "Returns the number of members in a sorted set within a lexicographical range."),
    c("zmpop", -4, WM, K0, Write, G::SortedSet, "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped."),
    c("zmscore", -3, RF, K1, Read, G::SortedSet, "6.2.0", "Returns the score of one or more members in a sorted set."),
    c("zpopmax", -2, WF, K1, Write, G::SortedSet, "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    c("zpopmin", -2, WF, K1, Write, G::SortedSet, "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    c("zrandmember", -2, R, K1, Read, G::SortedSet, "6.2.0", "Returns one or more random members from a sorted set."),
    c("zrange", -4, R, K1, Read, G::SortedSet, "1.2.0", "Returns members in a sorted set within a range of indexes."),
    c("zrangebylex", -4, R, K1, Read, G::SortedSet, "2.8.9", "Returns members in a sorted set within a lexicographical range."),
    c("zrangebyscore", -4, R, K1, Read, G::SortedSet, "1.0.5", "Returns members in a sorted set within a range of scores."),
    c("zrangestore", -5, WD, (1, 2, 1), Write, G::SortedSet, "6.2.0", "Stores a range of members from sorted set in a key."),
    c("zrank", 3, RF, K1, Read, G::SortedSet, "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores."),
    c("zrem", -3, WF, K1, Write, G::SortedSet, "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed."),
    c("zremrangebylex", 4, W, K1, Write, G::SortedSet, "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed."),
    c("zremrangebyrank", 4, W, K1, Write, G::SortedSet, "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed."),
    c("zremrangebyscore", 4, W, K1, Write, G::SortedSet, "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed."),
    c("zrevrange", -4, R, K1, Read, G::SortedSet, "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order."),
    c("zrevrangebylex", -4, R, K1, Read, G::SortedSet, "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order."),
    c("zrevrangebyscore", -4, R, K1, Read, G::SortedSet, "2.2.0", "Returns members in a sorted set within a range of scores in reverse order."),
    c("zrevrank", 3, RF, K1, Read, G::SortedSet, "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores."),
    c("zscan", -3, R, K1, Read, G::SortedSet, "2.8.0", "Iterates over members and scores of a sorted set."),
    c("zscore", 3, RF, K1, Read, G::SortedSet, "1.2.0", "Returns the score of a member in a sorted set."),
    c("zunion", -3, RM, K0, Read, G::SortedSet, "6.2.0", "Returns the union of multiple sorted sets."),
    c("zunionstore", -4, WDM, K1, Write, G::SortedSet, "2.0.0", "Stores the union of multiple sorted sets in a key."),
];

/// Every command the node serves, sorted by name.
pub fn table() -> &'static [CommandSpec] {
    TABLE
}

fn simple(s: &str) -> Frame {
    Frame::Simple(s.to_string())
}

/// ACL categories as Redis reports them, derived from group, kind and flags.
fn acl_categories(spec: &CommandSpec) -> Vec<&'static str> {
    let mut v = Vec::new();
    match spec.kind {
        Kind::Write => v.push("@write"),
        Kind::Read => v.push("@read"),
        Kind::Server => {}
    }
    v.push(match spec.group {
        Group::Str => "@string",
        Group::Hash => "@hash",
        Group::List => "@list",
        Group::Set => "@set",
        Group::SortedSet => "@sortedset",
        Group::Bitmap => "@bitmap",
        Group::HyperLogLog => "@hyperloglog",
        Group::Stream => "@stream",
        Group::Geo => "@geo",
        Group::Generic => "@keyspace",
        Group::Connection => "@connection",
        Group::Scripting => "@scripting",
        Group::Transactions => "@transaction",
        Group::PubSub => "@pubsub",
        Group::Server | Group::Cluster | Group::Sdr => "@admin",
    });
    if spec.group == Group::Server && spec.kind != Kind::Server {
        v.push("@keyspace");
    }
    if spec.flags.contains(&"fast") {
        v.push("@fast");
    } else {
        v.push("@slow");
    }
    if spec.flags.contains(&"write") && spec.name.starts_with("flush") {
        v.push("@dangerous");
    }
    v
}

/// A Redis 7 key-spec array derived from first/last/step.
fn key_specs(spec: &CommandSpec) -> Frame {
    if spec.first_key <= 0 {
        return Frame::set([]);
    }
    let flags: &[&str] = match spec.kind {
        Kind::Write => &["RW", "UPDATE"],
        _ => &["RO", "ACCESS"],
    };
    let lastkey = if spec.last_key < 0 {
        spec.last_key
    } else {
        spec.last_key - spec.first_key
    };
    Frame::set([Frame::str_map([
        ("flags", Frame::set(flags.iter().map(|f| simple(f)))),
        (
            "begin_search",
            Frame::str_map([
                ("type", Frame::bulk("index")),
                (
                    "spec",
                    Frame::str_map([("index", Frame::Integer(spec.first_key))]),
                ),
            ]),
        ),
        (
            "find_keys",
            Frame::str_map([
                ("type", Frame::bulk("range")),
                (
                    "spec",
                    Frame::str_map([
                        ("lastkey", Frame::Integer(lastkey)),
                        ("keystep", Frame::Integer(spec.step)),
                        ("limit", Frame::Integer(0)),
                    ]),
                ),
            ]),
        ),
    ])])
}

/// One `COMMAND INFO` entry: name, arity, flags, first, last, step, ACL categories, tips,
/// key specs, subcommands.
pub fn info_entry(spec: &CommandSpec) -> Frame {
    Frame::Array(vec![
        Frame::bulk(spec.name),
        Frame::Integer(spec.arity),
        Frame::set(spec.flags.iter().map(|f| simple(f))),
        Frame::Integer(spec.first_key),
        Frame::Integer(spec.last_key),
        Frame::Integer(spec.step),
        Frame::set(acl_categories(spec).into_iter().map(simple)),
        Frame::set([]),
        key_specs(spec),
        Frame::set([]),
    ])
}

/// One `COMMAND DOCS` value (a map; a flat array in RESP2).
pub fn docs_entry(spec: &CommandSpec) -> Frame {
    Frame::str_map([
        ("summary", Frame::bulk(spec.summary)),
        ("since", Frame::bulk(spec.since)),
        ("group", Frame::bulk(spec.group.as_str())),
    ])
}

const HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all commands.",
    "COUNT",
    "    Return the total number of commands in this server.",
    "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
    "    Return a list of all commands in this server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full command.",
    "HELP",
    "    Print this help.",
];

/// The reply to `COMMAND [COUNT | LIST | INFO [name...] | DOCS [name...] | GETKEYS cmd... |
/// HELP]`; `argv[0]` is `COMMAND` itself.
pub fn command_reply(argv: &[Bytes]) -> Frame {
    let Some(sub) = argv.get(1) else {
        return Frame::Array(table().iter().map(info_entry).collect());
    };
    let args = &argv[2..];
    let sub_wrong = |s: &str| {
        Frame::err(format!(
            "wrong number of arguments for 'command|{s}' command"
        ))
    };
    if eq(sub, "count") {
        if !args.is_empty() {
            return sub_wrong("count");
        }
        Frame::Integer(table().len() as i64)
    } else if eq(sub, "list") {
        let filter: Box<dyn Fn(&CommandSpec) -> bool> = match args {
            [] => Box::new(|_| true),
            [f, kind, val] if eq(f, "filterby") => {
                let val = val.clone();
                if eq(kind, "pattern") {
                    Box::new(move |s| glob::matches(&val, s.name.as_bytes()))
                } else if eq(kind, "aclcat") {
                    Box::new(move |s| {
                        acl_categories(s)
                            .iter()
                            .any(|c| c.as_bytes()[1..].eq_ignore_ascii_case(&val))
                    })
                } else if eq(kind, "module") {
                    Box::new(|_| false)
                } else {
                    return Frame::err("syntax error");
                }
            }
            _ => return Frame::err("syntax error"),
        };
        Frame::Array(
            table()
                .iter()
                .filter(|s| filter(s))
                .map(|s| Frame::bulk(s.name))
                .collect(),
        )
    } else if eq(sub, "info") {
        if args.is_empty() {
            return Frame::Array(table().iter().map(info_entry).collect());
        }
        Frame::Array(
            args.iter()
                .map(|n| lookup(n).map_or(Frame::Null, info_entry))
                .collect(),
        )
    } else if eq(sub, "docs") {
        let specs: Vec<&CommandSpec> = if args.is_empty() {
            table().iter().collect()
        } else {
            args.iter().filter_map(|n| lookup(n)).collect()
        };
        Frame::map(
            specs
                .into_iter()
                .map(|s| (Frame::bulk(s.name), docs_entry(s))),
        )
    } else if eq(sub, "getkeys") || eq(sub, "getkeysandflags") {
        if args.is_empty() {
            return sub_wrong(if eq(sub, "getkeys") {
                "getkeys"
            } else {
                "getkeysandflags"
            });
        }
        let Some(spec) = lookup(&args[0]) else {
            return Frame::err("Invalid command specified");
        };
        if super::check_arity(spec, args).is_err() {
            return Frame::err("Invalid number of arguments specified for command");
        }
        let idx = key_indices(spec, args);
        if idx.is_empty() {
            return Frame::err("The command has no key arguments");
        }
        let with_flags = eq(sub, "getkeysandflags");
        Frame::Array(
            idx.into_iter()
                .map(|i| {
                    let k = Frame::Bulk(args[i].clone());
                    if with_flags {
                        let flags: &[&str] = if spec.kind == Kind::Write {
                            &["RW", "UPDATE"]
                        } else {
                            &["RO", "ACCESS"]
                        };
                        Frame::Array(vec![k, Frame::set(flags.iter().map(|f| simple(f)))])
                    } else {
                        k
                    }
                })
                .collect(),
        )
    } else if eq(sub, "help") {
        Frame::Array(HELP.iter().map(|l| simple(l)).collect())
    } else {
        Frame::err(format!(
            "unknown subcommand '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(&sub[..sub.len().min(128)])
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn count_list_info_docs() {
        let n = table().len() as i64;
        assert_eq!(
            command_reply(&argv(&["command", "count"])),
            Frame::Integer(n)
        );
        assert!(command_reply(&argv(&["command", "count", "x"])).is_error());
        let Frame::Array(all) = command_reply(&argv(&["command"])) else {
            panic!()
        };
        assert_eq!(all.len() as i64, n);
        let Frame::Array(list) = command_reply(&argv(&["command", "list"])) else {
            panic!()
        };
        assert_eq!(list.len() as i64, n);
        assert_eq!(
            command_reply(&argv(&["command", "list", "filterby", "pattern", "hg*"])),
            Frame::Array(vec![Frame::bulk("hget"), Frame::bulk("hgetall")])
        );
        let Frame::Array(reads) =
            command_reply(&argv(&["command", "list", "filterby", "aclcat", "read"]))
        else {
            panic!()
        };
        assert!(reads.contains(&Frame::bulk("get")) && !reads.contains(&Frame::bulk("set")));
        let Frame::Array(info) = command_reply(&argv(&["COMMAND", "INFO", "get", "nosuch"])) else {
            panic!()
        };
        assert_eq!(info[1], Frame::Null);
        let Frame::Array(get) = &info[0] else {
            panic!()
        };
        assert_eq!(get.len(), 10);
        assert_eq!(get[0], Frame::bulk("get"));
        assert_eq!(get[1], Frame::Integer(2));
        assert_eq!(get[2], Frame::set([simple("readonly"), simple("fast")]));
        assert_eq!(
            &get[3..6],
            &[Frame::Integer(1), Frame::Integer(1), Frame::Integer(1)]
        );
        let Frame::Map(docs) = command_reply(&argv(&["command", "docs"])) else {
            panic!()
        };
        assert_eq!(docs.len() as i64, n);
        assert_eq!(
            command_reply(&argv(&["command", "docs", "GET", "nosuch"])),
            Frame::str_map([(
                "get",
                Frame::str_map([
                    ("summary", Frame::bulk("Returns the string value of a key.")),
                    ("since", Frame::bulk("1.0.0")),
                    ("group", Frame::bulk("string")),
                ])
            )])
        );
    }

    #[test]
    fn getkeys_help_unknown() {
        assert_eq!(
            command_reply(&argv(&["command", "getkeys", "mset", "a", "1", "b", "2"])),
            Frame::Array(vec![Frame::bulk("a"), Frame::bulk("b")])
        );
        assert_eq!(
            command_reply(&argv(&["command", "getkeys", "ping"])),
            Frame::err("The command has no key arguments")
        );
        assert_eq!(
            command_reply(&argv(&["command", "getkeys", "get"])),
            Frame::err("Invalid number of arguments specified for command")
        );
        assert_eq!(
            command_reply(&argv(&["command", "getkeys", "nosuch"])),
            Frame::err("Invalid command specified")
        );
        assert!(
            matches!(command_reply(&argv(&["command", "help"])), Frame::Array(v) if !v.is_empty())
        );
        assert_eq!(
            command_reply(&argv(&["command", "foo"])),
            Frame::err("unknown subcommand 'foo'. Try COMMAND HELP.")
        );
    }
}
