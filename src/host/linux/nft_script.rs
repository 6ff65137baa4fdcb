//! Encodes nft artifacts as an `nft -f -` script.
