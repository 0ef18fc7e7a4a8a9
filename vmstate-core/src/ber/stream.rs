//! Whole migration streams in BER.
