//! saga サービス (8085) のテスト: API、Saga の流れと補償、再起動からの回復。

mod api;
mod flow;
mod recovery;
mod replicas;
