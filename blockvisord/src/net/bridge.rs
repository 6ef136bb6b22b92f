//! Bridge networking (filled in with the netns + veth implementation).
