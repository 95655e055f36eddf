# MediaHub の開発用 Makefile。
#
# `make` だけを実行するとターゲットの一覧 (help) を表示します。
# 各ターゲットの説明は `## ` 以降の一行コメントから help が自動生成します。

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

CARGO ?= cargo
PYTHON ?= python3

# --- カバレッジ ------------------------------------------------------------------
# しきい値 (行カバレッジ %)。DESIGN §9 と issue #2 の取り決め。
COVERAGE_MIN_TOTAL ?= 80
COVERAGE_MIN_CORE ?= 90
# カバレッジ集計から除外するファイル (正規表現、絶対パスに対して評価される)。
#   examples/ … 学習用のサンプルプログラム (テストではなく実行して読むもの)
#   src/bin/  … サービスの起動用バイナリ (引数を読んで lib を呼ぶだけの薄い main)
# 除外を変えるときはこの変数だけを変える: report と json 出力の両方が同じ値を使う。
COVERAGE_IGNORE_REGEX ?= (^|/)(examples|src/bin)/
COVERAGE_JSON ?= target/coverage.json
COVERAGE_FLAGS = --ignore-filename-regex '$(COVERAGE_IGNORE_REGEX)'

# --- テスト用の PostgreSQL ------------------------------------------------------------
# make test が使い捨てのクラスターを作る場所 (MEDIAHUB_TEST_POSTGRES_URL があればそれを使い、作らない)。
# サーバーは postgres ユーザーで動くことがあるので、誰でもたどれる /tmp の下に作り、終わったら消す。
ifndef PG_TEST_DIR
PG_TEST_DIR := $(shell mktemp -u /tmp/mediahub-pg-XXXXXX)
endif

# --- ツールの版 ------------------------------------------------------------------
# 新しいマシンで `make tools` が同じ結果になるよう版を固定する (上書き可)。
CARGO_LLVM_COV_VERSION ?= 0.9.1

# --- コンテナ ---------------------------------------------------------------------
# docker compose (v2) があればそれを、なければ docker-compose (v1) を使う。
COMPOSE ?= $(shell if docker compose version >/dev/null 2>&1; then echo "docker compose"; else echo docker-compose; fi)
# compose のプロジェクト名 (コンテナ・ネットワーク・ボリュームの名前の頭。scripts/lab/ も同じ名前を使う)。
export COMPOSE_PROJECT_NAME ?= mediahub
MEDIAHUB_IMAGE ?= mediahub:local
export MEDIAHUB_IMAGE
DOWN_FLAGS ?=
# プロファイル postgres: イベントストアを PostgreSQL に向け、Saga の読みモデルをレプリカごとにする。
POSTGRES_PASSWORD ?= mediahub
export POSTGRES_PASSWORD
POSTGRES_ENV = COMPOSE_PROFILES=postgres \
	EVENTSTORE_DATABASE=postgres://mediahub:$(POSTGRES_PASSWORD)@postgres:5432/mediahub \
	SAGA_DATABASE=/tmp/saga.db
REPLICAS = --scale eventstore=2 --scale media-command=2 --scale saga=2
CHAOS_FLAGS ?=

.PHONY: help build test lint fmt doc clean tools bench run example examples coverage-html generate check-generated image docker-up docker-up-postgres docker-down check-docs compose-e2e chaos fuzz

help: ## このヘルプを表示する (既定のターゲット)
	@echo "MediaHub — make ターゲット一覧"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "初めての方は: make tools && make test"

build: ## ワークスペース全体をビルドする (テスト・サンプル・ベンチを含む全ターゲット)
	$(CARGO) build --workspace --all-targets

test: ## テスト (nextest + doctest) を実行し、カバレッジを表示・検査する (全体 >= 80%, mediahub-core >= 90%。PostgreSQL 15 を使い捨てで起動する)
	@echo "==> テスト用の PostgreSQL (scripts/pg-test-cluster.sh、$(PG_TEST_DIR))"
	@if [ -n "$${MEDIAHUB_TEST_POSTGRES_URL:-}" ]; then \
		echo "    MEDIAHUB_TEST_POSTGRES_URL を使います"; \
	else \
		url=$$(scripts/pg-test-cluster.sh start $(PG_TEST_DIR)) && echo "    $$url"; \
	fi
	@echo "==> ユニット/結合テスト (cargo-nextest, カバレッジ計測つき)"
	@url="$${MEDIAHUB_TEST_POSTGRES_URL:-$$(cat $(PG_TEST_DIR)/url)}"; \
		status=0; MEDIAHUB_TEST_POSTGRES_URL="$$url" $(CARGO) llvm-cov nextest --workspace --no-report || status=$$?; \
		scripts/pg-test-cluster.sh stop $(PG_TEST_DIR); rm -rf $(PG_TEST_DIR); exit $$status
	@echo "==> ドキュメントテスト (doctest。nextest は doctest を実行しないため別に実行する)"
	$(CARGO) test --doc --workspace
	@echo "==> カバレッジ (ファイル別)"
	$(CARGO) llvm-cov report $(COVERAGE_FLAGS)
	@mkdir -p $(dir $(COVERAGE_JSON))
	$(CARGO) llvm-cov report $(COVERAGE_FLAGS) --json --summary-only --output-path $(COVERAGE_JSON)
	@echo "==> カバレッジゲート"
	$(PYTHON) scripts/coverage_gate.py --json $(COVERAGE_JSON) --root "$(CURDIR)" \
		--min-total $(COVERAGE_MIN_TOTAL) --min mediahub-core/src/=$(COVERAGE_MIN_CORE)

coverage-html: ## 直前の make test の計測結果から HTML レポートを作る (target/llvm-cov/html)
	$(CARGO) llvm-cov report $(COVERAGE_FLAGS) --html
	@echo "==> target/llvm-cov/html/index.html を開いてください"

lint: ## フォーマット確認・clippy (-D warnings)・rustdoc の警告検査
	$(CARGO) fmt --all --check
	python3 scripts/check_imports.py
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p mediahub-core --no-deps

fmt: ## rustfmt でコードを整形する
	$(CARGO) fmt --all

doc: ## ワークスペースの API ドキュメントを生成する (target/doc)
	$(CARGO) doc --workspace --no-deps

clean: ## ビルド成果物とカバレッジ結果を削除する (./data の SQLite ファイルは消さない)
	$(CARGO) clean
	rm -rf coverage lcov.info

tools: ## 開発に必要なツールを入れる (rustup コンポーネント、cargo-llvm-cov、cargo-nextest)
	@if command -v rustup >/dev/null 2>&1; then \
		rustup component add llvm-tools-preview clippy rustfmt; \
	else \
		echo "rustup が見つかりません: llvm-tools-preview / clippy / rustfmt を手動で入れてください" >&2; \
	fi
	@if $(CARGO) llvm-cov --version >/dev/null 2>&1; then \
		echo "cargo-llvm-cov: インストール済み ($$($(CARGO) llvm-cov --version))"; \
	else \
		echo "cargo-llvm-cov: インストールします ($(CARGO_LLVM_COV_VERSION))"; \
		$(CARGO) install cargo-llvm-cov --locked --version $(CARGO_LLVM_COV_VERSION); \
	fi
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		echo "cargo-nextest: インストール済み ($$($(CARGO) nextest --version | sed -n 1p))"; \
	else \
		echo "cargo-nextest: インストールします"; \
		$(CARGO) install cargo-nextest --locked; \
	fi
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && command -v ffmpeg >/dev/null 2>&1; then \
		echo "chromium / chromedriver / ffmpeg: インストール済み"; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "chromium / chromedriver / fonts-noto-cjk / ffmpeg: インストールします (ブラウザーテストと動画のサムネイル用)"; \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-noto-cjk ffmpeg; \
	else \
		echo "chromium・chromedriver・fonts-noto-cjk・ffmpeg を手動で入れてください" >&2; \
	fi

bench: ## ベンチマークを実行する (DESIGN §10 の性能目標を測る。イベントストアは SQLite と使い捨ての PostgreSQL の両方)
	$(CARGO) build --release -p mediahub-services --bin mediahub
	@url="$${MEDIAHUB_BENCH_POSTGRES_URL:-}"; started=""; \
		if [ -z "$$url" ] && command -v pg_config >/dev/null 2>&1; then \
			url=$$(scripts/pg-test-cluster.sh start $(PG_TEST_DIR)) && started=yes; fi; \
		status=0; MEDIAHUB_BENCH_POSTGRES_URL="$$url" $(CARGO) bench --workspace || status=$$?; \
		if [ -n "$$started" ]; then scripts/pg-test-cluster.sh stop $(PG_TEST_DIR); rm -rf $(PG_TEST_DIR); fi; \
		exit $$status

run: ## 全 8 サービスを 1 プロセスで起動する (SQLite は ./data、開発用ログインと障害注入は有効)
	$(CARGO) run --release -p mediahub-services --bin mediahub -- run

fuzz: ## schemathesis でゲートウェイの公開 API (OpenAPI) を検査する (固定シード、失敗 0 件で成功)
	bash scripts/fuzz.sh

generate: ## 各サービスの OpenAPI 文書を docs/openapi/<service>.json に書き出す
	$(CARGO) run -q -p mediahub-services --bin mediahub -- openapi --out docs/openapi

check-generated: ## docs/openapi/ がコードと一致しているか確かめる (古ければ失敗)
	@tmp=$$(mktemp -d); \
	$(CARGO) run -q -p mediahub-services --bin mediahub -- openapi --out "$$tmp"; \
	if diff -ru docs/openapi "$$tmp"; then echo "docs/openapi は最新です"; rm -rf "$$tmp"; \
	else echo "docs/openapi が古くなっています: make generate を実行してコミットしてください" >&2; rm -rf "$$tmp"; exit 1; fi

image: ## 実行イメージ mediahub:local を作る (ホストでリリースビルド。レジストリが無ければ土台を debootstrap で作る)
	bash scripts/image.sh $(MEDIAHUB_IMAGE)

docker-up: ## イメージを作り、8 サービスをコンテナで起動して準備ができるまで待つ (JWT_SECRET が必要)
	@secret="$${JWT_SECRET:-}"; if [ "$${#secret}" -lt 32 ]; then \
		echo "JWT_SECRET を 32 バイト以上で設定してください (例: export JWT_SECRET=\$$(openssl rand -hex 32))" >&2; exit 1; fi
	@$(MAKE) image
	$(COMPOSE) up -d
	@bash scripts/compose-wait.sh

docker-up-postgres: ## プロファイル postgres: PostgreSQL と、eventstore・media-command・saga を 2 つずつ起動する (JWT_SECRET が必要)
	@secret="$${JWT_SECRET:-}"; if [ "$${#secret}" -lt 32 ]; then \
		echo "JWT_SECRET を 32 バイト以上で設定してください (例: export JWT_SECRET=\$$(openssl rand -hex 32))" >&2; exit 1; fi
	@$(MAKE) image
	bash scripts/postgres-image.sh
	$(POSTGRES_ENV) $(COMPOSE) up -d $(REPLICAS)
	@bash scripts/compose-wait.sh
	@MIN_EVENTS=0 bash scripts/lab/replicas_check.sh

docker-down: ## compose のコンテナを止めて消す (プロファイル postgres の分も。ボリュームも消すなら DOWN_FLAGS=-v)
	JWT_SECRET="$${JWT_SECRET:-not-needed-to-stop}" COMPOSE_PROFILES=postgres $(COMPOSE) down $(DOWN_FLAGS)

check-docs: ## チュートリアル (docs/tutorial) が挙げるファイル・テスト名・API のパスが実在するか確かめる
	$(PYTHON) scripts/check_tutorial.py

compose-e2e: ## compose で動く MediaHub を公開ポートだけで確かめる (docker-up の後。DEV_LOGIN=true が必要)
	$(PYTHON) scripts/lab/compose_e2e.py

chaos: ## コンテナに kill・切断・一時停止を起こしながらアップロードを流し、不変条件を確かめる (docker-up の後)
	$(PYTHON) scripts/lab/chaos.py $(CHAOS_FLAGS)

example: ## アップロード Saga をインメモリで実行し、イベントの時系列を表示する
	$(CARGO) run -p mediahub-examples --example upload_saga_in_memory

EXAMPLES := upload_saga_in_memory tags_aggregate uploads_per_day_projection tags_service

examples: ## examples/ のサンプルをすべて実行する (どれかが失敗すれば失敗。CI が実行する)
	$(CARGO) build -q -p mediahub-examples --examples
	@for e in $(EXAMPLES); do \
		echo "==> cargo run -p mediahub-examples --example $$e"; \
		$(CARGO) run -q -p mediahub-examples --example $$e || exit 1; \
	done
