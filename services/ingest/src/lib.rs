//! Ingest: validates, dedups and stamps outside input, then appends it to QM_INPUT
