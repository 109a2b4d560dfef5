//! Loom models of fusebox (see tests/).
