//! Bearer tokens: placeholder, filled below.
