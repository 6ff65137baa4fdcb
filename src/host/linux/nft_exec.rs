//! Runs `nft`.
