//! [`SlowPlayerPolicy`]: what happens to a player that cannot keep up.

/// What happens to a player that cannot keep up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowPlayerPolicy {
    /// Drop its video until the next keyframe that fits in its queue; audio keeps flowing.
    SkipToKeyframe,
    /// Close its connection.
    Disconnect,
}
