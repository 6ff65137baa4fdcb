//! Reads the kernel's `kroute` tables back (`nft -j list table`).
