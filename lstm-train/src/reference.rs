//! Reference (placeholder).
