//! MediaHub のサンプル集 (実体は `examples/*.rs`)。
