//! MediaHub のサービス層 (後続の issue で実装します)。
