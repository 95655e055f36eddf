// 表示文の辞書 (日本語が先、英語は切り替え用) と、その切り替え。
//
// HTML の静的な文は属性で指定します:
//   data-i18n="key"              → textContent
//   data-i18n-placeholder="key"  → placeholder
//   data-i18n-aria-label="key"   → aria-label
//   data-i18n-title="key"        → title
// 動的に作る文は t("key", {name: ...}) で作り、"locale-changed" のイベントで作り直します。

import { emit, store } from "./state.js";

const LOCALE_KEY = "mediahub.locale";

/** @type {Record<"ja"|"en", Record<string, string>>} */
const MESSAGES = {
  ja: {
    "app.title": "MediaHub デバッグ UI",
    "app.tagline": "CQRS・イベントソーシング・Saga を目で見る",
    "app.noscript": "この UI には JavaScript が必要です。",
    "app.skip": "本文へ移動",
    "header.notifications": "通知を開く",
    "header.logout": "ログアウト",
    "header.lang": "English",
    "header.langLabel": "表示言語を英語に切り替える",
    "header.live": "ライブ接続の状態",

    "common.close": "閉じる",
    "common.delete": "削除",
    "common.confirmDelete": "本当に削除? もう一度押す",
    "common.loading": "読み込み中…",
    "common.retry": "再試行",
    "common.refresh": "再読み込み",
    "common.all": "すべて",
    "common.devOnly": "開発用",
    "common.apply": "適用",

    "error.http": "HTTP {status} エラー",
    "error.networkTitle": "ネットワークエラー",
    "error.network": "ゲートウェイ ({url}) に接続できません。サービスが起動しているか確認してください。",
    "error.badJson": "サーバーの応答を読めませんでした",
    "error.noToken": "応答にトークンがありません",
    "error.unexpected": "予期しないエラーが起きました",
    "error.serverPrefix": "サーバーの応答",
    "error.invalidCorrelation": "相関 ID の形が正しくありません",

    "toast.repeat": "×{count}",
    "toast.more": "ほかに {count} 件のお知らせを畳みました",
    "toast.moreWithErrors": "ほかに {count} 件のお知らせを畳みました (うちエラー {errors} 件)",
    "toast.label": "まとめたお知らせ",

    "live.idle": "オフライン",
    "live.connecting": "接続中…",
    "live.open": "ライブ",
    "live.retrying": "再接続中…",
    "live.closed": "切断",
    "live.unauthorized": "認証切れ",
    "live.eventsLost": "イベントのライブ接続が切れました (自動で再接続します)",
    "live.notificationsLost": "通知のライブ接続が切れました (自動で再接続します)",

    "login.title": "MediaHub にログイン",
    "login.lead": "ログインすると、アップロードしたメディアがイベントになり、Saga がサービスをまたいで進む様子をライブで見られます。",
    "login.with": "{provider} でログイン",
    "login.noProviders": "有効な OAuth2 プロバイダーはありません。",
    "login.providersFailed": "ログイン方法を取得できませんでした。",
    "login.devTitle": "開発用ログイン",
    "login.devHint": "ゲートウェイで開発用ログインが有効なときだけ使えます。ログイン名ごとに別のユーザーになります。",
    "login.devName": "ログイン名",
    "login.devButton": "開発用トークンでログイン",
    "login.devFailed": "開発用ログインに失敗しました",
    "login.gateway": "ゲートウェイ:",
    "login.expired": "セッションの有効期限が切れました。もう一度ログインしてください。",
    "login.meFailed": "ユーザー情報を取得できませんでした",
    "login.oauthFailed": "OAuth2 ログインに失敗しました",

    "tabs.label": "画面の切り替え",
    "tabs.media": "メディア",
    "tabs.albums": "アルバム",
    "tabs.sagas": "Saga",
    "tabs.events": "イベント",
    "tabs.notifications": "通知",

    "media.uploadTitle": "アップロード",
    "media.file": "ファイル (画像・動画)",
    "media.fault": "障害注入",
    "media.faultNone": "なし",
    "media.faultProcess": "process — 処理 (サムネイル作成) を失敗させる → 補償",
    "media.faultAlbum": "album — アルバム追加を失敗させる → 再試行の後に補償",
    "media.faultNotification": "notification — 通知を失敗させる → 再試行",
    "media.faultHint": "サーバーで障害注入が有効なときだけ効きます (make run の既定では有効)。",
    "media.upload": "アップロード",
    "media.progress": "アップロードの進み具合",
    "media.chooseFile": "ファイルを選んでください",
    "media.uploaded": "{name} を送信しました",
    "media.uploadAccepted": "{name} を受け付けました。Saga が始まります。",
    "media.uploadFailed": "アップロードに失敗しました",
    "media.uploadRejected": "{name}: アップロードを受け付けられませんでした — {reason}",
    "media.statusAll": "すべて (削除済み・失敗も)",
    "media.originalPlayFailed": "このファイルをブラウザーで再生できませんでした。ダウンロードして確かめてください (ページの Content-Security-Policy に media-src blob: が無いと、動画は再生できません)。",
    "media.mediaId": "メディア",
    "media.position": "position",
    "media.showSaga": "Saga を見る",
    "media.openDetail": "詳細を開く",
    "media.filterKind": "種類",
    "media.filterStatus": "状態",
    "media.search": "ファイル名で検索",
    "media.searchPlaceholder": "例: cat",
    "media.gridLabel": "メディアの一覧",
    "media.more": "さらに読み込む",
    "media.empty": "メディアはまだありません。上のフォームからアップロードしてください。",
    "media.loadFailed": "メディアの一覧を取得できませんでした",
    "media.openNamed": "{name} の詳細を開く",
    "media.detailLabel": "メディアの詳細",
    "media.detailFailed": "メディアの詳細を取得できませんでした",
    "media.showOriginal": "元ファイルを表示",
    "media.originalFailed": "元ファイルを取得できませんでした",
    "media.download": "ダウンロード",
    "media.deleteAccepted": "{name} の削除を受け付けました (position {position})",
    "media.deleteFailed": "削除に失敗しました",
    "media.id": "ID",
    "media.contentType": "Content-Type",
    "media.kind": "種類",
    "media.size": "サイズ",
    "media.failureReason": "失敗の理由",
    "media.dimensions": "幅 × 高さ",
    "media.duration": "再生時間",
    "media.createdAt": "アップロード日時",

    "history.title": "履歴 (タイムトラベル)",
    "history.hint": "版を選ぶと、そのイベントを適用した直後の集約の状態が見えます。色の付いた行がその版で変わったところです。",
    "history.empty": "履歴はまだありません。",
    "history.version": "版",
    "history.prev": "前の版",
    "history.next": "次の版",
    "history.event": "イベント {type} (position {position})",
    "history.stateAfter": "v{version} の後の状態",
    "history.changed": "変わったフィールド",

    "kind.image": "画像",
    "kind.video": "動画",

    "status.uploaded": "処理中",
    "status.processing": "処理中",
    "status.processed": "処理済み",
    "status.failed": "失敗",
    "status.deleted": "削除済み",
    "status.invalidated": "無効化",
    "status.running": "実行中",
    "status.compensating": "補償中",
    "status.completed": "完了",
    "status.compensated": "補償済み",
    "status.unknown": "不明",

    "albums.createTitle": "新しいアルバム",
    "albums.name": "アルバム名",
    "albums.create": "作成",
    "albums.nameRequired": "名前を入れてください",
    "albums.created": "アルバム「{name}」を作りました",
    "albums.createFailed": "アルバムを作れませんでした",
    "albums.listLabel": "アルバムの一覧",
    "albums.empty": "アルバムはまだありません。最初のアップロードが終わるとデフォルトアルバムができます。",
    "albums.loadFailed": "アルバムの一覧を取得できませんでした",
    "albums.detailFailed": "アルバムを取得できませんでした",
    "albums.default": "デフォルト",
    "albums.defaultHint": "デフォルトアルバム: アップロードの Saga が処理済みのメディアを自動で入れます。",
    "albums.count": "{count} 件",
    "albums.id": "ID",
    "albums.rename": "名前を変える",
    "albums.renameButton": "変更",
    "albums.renamed": "名前を「{name}」に変えました",
    "albums.renameFailed": "名前を変えられませんでした",
    "albums.delete": "アルバムを削除",
    "albums.defaultNotDeletable": "デフォルトアルバムは削除できません。",
    "albums.deleted": "アルバム「{name}」を削除しました",
    "albums.deleteFailed": "アルバムを削除できませんでした",
    "albums.contents": "中身",
    "albums.contentsEmpty": "このアルバムは空です。",
    "albums.addMedia": "メディアを追加",
    "albums.choose": "選んでください",
    "albums.noCandidates": "追加できるメディアがありません",
    "albums.add": "追加",
    "albums.added": "アルバムに追加しました",
    "albums.addFailed": "アルバムに追加できませんでした",
    "albums.remove": "外す",
    "albums.removed": "アルバムから外しました",
    "albums.removeFailed": "アルバムから外せませんでした",

    "sagas.lead": "アップロード 1 回につき Saga が 1 つ動きます。行を選ぶとステップのタイムラインが見えます (実行中はライブで更新)。",
    "sagas.filter": "状態で絞り込み",
    "sagas.listLabel": "Saga の一覧",
    "sagas.empty": "Saga はまだありません。",
    "sagas.loadFailed": "Saga の一覧を取得できませんでした",
    "sagas.detailFailed": "Saga を取得できませんでした",
    "sagas.notFoundForMedia": "このメディアの Saga はまだ見つかりません",
    "sagas.saga": "Saga",
    "sagas.media": "メディア",
    "sagas.currentStep": "現在のステップ",
    "sagas.createdAt": "開始",
    "sagas.updatedAt": "最終更新",
    "sagas.openMedia": "メディアを開く",
    "sagas.liveHint": "実行中 — ライブで更新しています",
    "sagas.pipeline": "ステップの流れ",
    "sagas.timeline": "タイムライン",
    "sagas.noSteps": "ステップの記録はまだありません。",
    "sagas.attempt": "試行 {attempt}",
    "sagas.retry": "再試行 #{attempt}",
    "sagas.compensation": "補償",
    "sagas.reason": "理由",
    "sagas.events": "Saga のイベント ({count} 件)",
    "sagas.failureReason": "失敗の理由",
    "sagas.fault": "障害注入",
    "sagas.faultTag": "障害注入: {fault}",
    "sagas.filename": "ファイル",
    "sagas.outcome": "結果",
    "sagas.fullId": "Saga ID: {id}",

    "step.process": "メディア処理",
    "step.process_media": "メディア処理",
    "step.album": "アルバムに追加",
    "step.add_to_album": "アルバムに追加",
    "step.add_to_default_album": "デフォルトアルバムに追加",
    "step.notification": "通知",
    "step.notify": "通知",
    "step.send_notification": "通知",
    "step.delete_uploaded": "アップロードの削除 (補償)",
    "step.delete_uploaded_file": "アップロードの削除 (補償)",
    "step.invalidate": "メディアの無効化 (補償)",
    "step.invalidate_media": "メディアの無効化 (補償)",

    "outcome.started": "開始",
    "outcome.succeeded": "成功",
    "outcome.success": "成功",
    "outcome.failed": "失敗",
    "outcome.retrying": "再試行待ち",
    "outcome.timed_out": "時間切れ",
    "outcome.timeout": "時間切れ",
    "outcome.compensated": "補償済み",
    "outcome.skipped": "省略",
    "outcome.compensation_started": "補償開始",
    "step.compensation_started": "補償開始",

    "events.lead": "あなたのイベントがグローバルログの順 (position) にライブで流れます。行を選ぶとエンベロープが見えます。",
    "events.filterAggregate": "集約の型",
    "events.filterType": "イベント型",
    "events.filterTypePlaceholder": "例: MediaUploaded",
    "events.filterCorrelation": "相関 ID",
    "events.filterCorrelationPlaceholder": "UUID",
    "events.clear": "クリア",
    "events.pause": "一時停止",
    "events.resume": "再開",
    "events.resumeWithCount": "再開 (新着 {count} 件)",
    "events.counter": "{shown} 件を表示 / 受信 {total} 件 / 最新の position {head}",
    "events.listLabel": "イベントの一覧",
    "events.empty": "イベントはまだありません。メディアをアップロードすると流れてきます。",
    "events.noMatch": "条件に合うイベントはありません。",
    "events.loadFailed": "イベントの履歴を取得できませんでした",
    "events.corrShort": "相関",
    "events.correlation": "相関 ID",
    "events.emittedBy": "出したサービス: {service}",
    "events.follow": "この相関 ID を追う",
    "events.followFailed": "相関 ID のイベントを取得できませんでした",
    "events.unfollow": "追跡をやめる",
    "events.copy": "JSON をコピー",
    "events.copied": "コピーしました",
    "events.copyFailed": "コピーできませんでした",
    "events.flowTitle": "相関 ID の流れ",
    "events.flowHint": "{count} 件のイベント、最初から最後まで {ms} ms。上から下が時間の流れ、列はイベントを出したサービスです。イベントを選ぶと、その原因 (causation) と結果が印されます。",
    "events.cause": "原因",
    "events.effect": "結果",
    "events.corrInvalid": "「{value}」は相関 ID として読めません。UUID 全体か、16 進数 8 文字以上の先頭部分を入れてください。",
    "events.corrNotFound": "「{value}」で始まる相関 ID・イベント ID は、この画面に読み込んだイベントの中にありません。UUID 全体を入れてください (API は先頭一致の検索に対応していません)。",
    "events.corrAmbiguous": "「{value}」で始まる相関 ID が {count} 個あります。もっと長く入れてください。",
    "events.corrResolved": "「{value}」を相関 ID {id} と見なしました。",
    "events.corrEmpty": "この相関 ID のイベントはありません (自分のイベントだけが見えます)。",

    "notifications.readAll": "すべて既読にする",
    "notifications.unreadOnly": "未読だけ表示",
    "notifications.listLabel": "通知の一覧",
    "notifications.empty": "通知はありません。",
    "notifications.loadFailed": "通知を取得できませんでした",
    "notifications.unreadFailed": "未読数を取得できませんでした",
    "notifications.markRead": "既読にする",
    "notifications.markFailed": "既読にできませんでした",
    "notifications.unread": "未読",
    "notifications.unreadCount": "未読 {count} 件",
    "notifications.new": "新しい通知があります",
    "notifications.openMedia": "メディア",
    "notifications.openSaga": "Saga",
    "notifications.original": "サーバーの原文: {text}",

    "notificationKind.upload_completed": "アップロード完了",
    "notificationKind.upload_succeeded": "アップロード完了",
    "notificationKind.media_ready": "アップロード完了",
    "notificationKind.upload_failed": "アップロード失敗",
    "notificationKind.upload_compensated": "取り消し",
    "notificationKind.processing_failed": "処理の失敗",
    "notificationKind.media_invalidated": "無効化",

    "problem.media.not_found": "メディアが見つかりません",
    "problem.media.thumbnail_not_found": "サムネイルはまだありません",
    "problem.media.too_large": "ファイルが大きすぎます",
    "problem.media.unsupported_type": "対応していない種類のファイルです",
    "problem.media.empty_file": "ファイルが空です",
    "problem.media.missing_file": "ファイルが送られていません",
    "problem.media.invalid_state": "メディアの今の状態ではできない操作です",
    "problem.media.invalid_fault_inject": "障害注入の値が正しくありません",
    "problem.album.not_found": "アルバムが見つかりません",
    "problem.album.invalid_name": "アルバム名が正しくありません",
    "problem.album.already_exists": "同じアルバムがすでにあります",
    "problem.album.default_not_deletable": "デフォルトアルバムは削除できません",
    "problem.album.media_not_in_album": "そのメディアはアルバムに入っていません",
    "problem.saga.not_found": "Saga が見つかりません",
    "problem.notification.not_found": "通知が見つかりません",
    "problem.request.invalid_parameter": "リクエストのパラメーターが正しくありません",
    "problem.request.invalid_body": "リクエストの本文が正しくありません",
    "problem.request.invalid_path": "リクエストのパスが正しくありません",
    "problem.request.payload_too_large": "リクエストが大きすぎます",
    "problem.request.unsupported_media_type": "対応していない Content-Type です",
    "problem.request.not_found": "見つかりません",
    "problem.auth.missing_token": "ログインが必要です",
    "problem.auth.invalid_token": "トークンが正しくありません",
    "problem.auth.token_expired": "トークンの有効期限が切れました",
    "problem.read_model.not_caught_up": "読みモデルがまだ追いついていません (少し待ってから再試行してください)",
    "problem.upstream.unavailable": "奥のサービスに接続できません",
    "problem.upstream.timeout": "奥のサービスが時間内に応答しませんでした",
    "problem.service.unavailable": "サービスが一時的に使えません",
    "problem.fault.injected": "障害注入による失敗です",
    "problem.gateway.dev_login_disabled": "開発用ログインは無効です",
    "problem.gateway.invalid_login": "ログイン名が正しくありません",
    "problem.eventstore.version_conflict": "ほかの変更と衝突しました (版が違います)",
    "problem.precondition_failed": "ほかの変更と衝突しました (If-Match が合いません)",
    "problem.conflict": "ほかの変更と衝突しました",
    "problem.internal.error": "サーバー内部のエラーです",

    "server.uploadCompleted": "「{name}」のアップロードが完了しました",
    "server.uploadRolledBack": "「{name}」のアップロードは失敗し、取り消されました: {reason}",
    "server.participantReturned": "{url} が {status} を返しました: {detail}",
    "server.participantUnreachable": "{url} を呼べません: {detail}",
    "server.notificationFailed": "通知を届けられませんでした",
    "server.compensationFailed": "補償 {step} を完了できませんでした: {reason}",
    "server.deadline": "締め切り ({ms} ms) までに応答がありませんでした",
    "server.deadlineNoEvent": "受け付けられましたが、締め切り ({ms} ms) までに結果のイベントが届きませんでした",
    "server.imageUnreadable": "画像を読めません: {detail}",
    "server.frameUnreadable": "フレームを読めません: {detail}",
    "server.thumbnailUnwritable": "サムネイルを書けません: {detail}",

    "footer.swagger": "各サービスの Swagger UI",
    "footer.gateway": "ゲートウェイ",
  },
  en: {
    "app.title": "MediaHub debug UI",
    "app.tagline": "See CQRS, event sourcing and sagas at work",
    "app.noscript": "This UI needs JavaScript.",
    "app.skip": "Skip to content",
    "header.notifications": "Open notifications",
    "header.logout": "Log out",
    "header.lang": "日本語",
    "header.langLabel": "Switch the language to Japanese",
    "header.live": "Live connection status",

    "common.close": "Close",
    "common.delete": "Delete",
    "common.confirmDelete": "Really delete? Click again",
    "common.loading": "Loading…",
    "common.retry": "Retry",
    "common.refresh": "Reload",
    "common.all": "All",
    "common.devOnly": "dev only",
    "common.apply": "Apply",

    "error.http": "HTTP {status} error",
    "error.networkTitle": "Network error",
    "error.network": "Cannot reach the gateway ({url}). Check that the services are running.",
    "error.badJson": "Could not read the server's response",
    "error.noToken": "The response has no token",
    "error.unexpected": "An unexpected error occurred",
    "error.serverPrefix": "Server response",
    "error.invalidCorrelation": "Malformed correlation ID",

    "toast.repeat": "×{count}",
    "toast.more": "{count} more messages collapsed",
    "toast.moreWithErrors": "{count} more messages collapsed ({errors} errors)",
    "toast.label": "Collapsed messages",

    "live.idle": "Offline",
    "live.connecting": "Connecting…",
    "live.open": "Live",
    "live.retrying": "Reconnecting…",
    "live.closed": "Closed",
    "live.unauthorized": "Signed out",
    "live.eventsLost": "The live event stream dropped (reconnecting automatically)",
    "live.notificationsLost": "The live notification stream dropped (reconnecting automatically)",

    "login.title": "Log in to MediaHub",
    "login.lead": "Once logged in, watch your uploads become events and the saga move across services, live.",
    "login.with": "Log in with {provider}",
    "login.noProviders": "No OAuth2 provider is enabled.",
    "login.providersFailed": "Could not fetch the login methods.",
    "login.devTitle": "Development login",
    "login.devHint": "Works only when the gateway enables dev login. Each login name is a different user.",
    "login.devName": "Login name",
    "login.devButton": "Log in with a dev token",
    "login.devFailed": "Development login failed",
    "login.gateway": "Gateway:",
    "login.expired": "Your session has expired. Please log in again.",
    "login.meFailed": "Could not fetch the user",
    "login.oauthFailed": "OAuth2 login failed",

    "tabs.label": "Views",
    "tabs.media": "Media",
    "tabs.albums": "Albums",
    "tabs.sagas": "Sagas",
    "tabs.events": "Events",
    "tabs.notifications": "Notifications",

    "media.uploadTitle": "Upload",
    "media.file": "File (image or video)",
    "media.fault": "Fault injection",
    "media.faultNone": "None",
    "media.faultProcess": "process — fail processing (thumbnail) → compensation",
    "media.faultAlbum": "album — fail adding to the album → retries, then compensation",
    "media.faultNotification": "notification — fail the notification → retries",
    "media.faultHint": "Has an effect only when the server enables fault injection (on by default with make run).",
    "media.upload": "Upload",
    "media.progress": "Upload progress",
    "media.chooseFile": "Choose a file",
    "media.uploaded": "Sent {name}",
    "media.uploadAccepted": "{name} accepted. The saga starts now.",
    "media.uploadFailed": "Upload failed",
    "media.uploadRejected": "{name}: upload rejected — {reason}",
    "media.statusAll": "All (incl. deleted and failed)",
    "media.originalPlayFailed": "The browser could not play this file. Download it instead (videos cannot play unless the page's Content-Security-Policy allows media-src blob:).",
    "media.mediaId": "media",
    "media.position": "position",
    "media.showSaga": "Show saga",
    "media.openDetail": "Open details",
    "media.filterKind": "Kind",
    "media.filterStatus": "Status",
    "media.search": "Search file names",
    "media.searchPlaceholder": "e.g. cat",
    "media.gridLabel": "Media",
    "media.more": "Load more",
    "media.empty": "No media yet. Upload one with the form above.",
    "media.loadFailed": "Could not fetch the media list",
    "media.openNamed": "Open details of {name}",
    "media.detailLabel": "Media details",
    "media.detailFailed": "Could not fetch the media details",
    "media.showOriginal": "Show original",
    "media.originalFailed": "Could not fetch the original file",
    "media.download": "Download",
    "media.deleteAccepted": "Deletion of {name} accepted (position {position})",
    "media.deleteFailed": "Delete failed",
    "media.id": "ID",
    "media.contentType": "Content-Type",
    "media.kind": "Kind",
    "media.size": "Size",
    "media.failureReason": "Failure reason",
    "media.dimensions": "Width × height",
    "media.duration": "Duration",
    "media.createdAt": "Uploaded at",

    "history.title": "History (time travel)",
    "history.hint": "Pick a version to see the aggregate's state right after that event. Highlighted lines changed in that version.",
    "history.empty": "No history yet.",
    "history.version": "Version",
    "history.prev": "Previous version",
    "history.next": "Next version",
    "history.event": "Event {type} (position {position})",
    "history.stateAfter": "State after v{version}",
    "history.changed": "Changed fields",

    "kind.image": "image",
    "kind.video": "video",

    "status.uploaded": "processing",
    "status.processing": "processing",
    "status.processed": "processed",
    "status.failed": "failed",
    "status.deleted": "deleted",
    "status.invalidated": "invalidated",
    "status.running": "running",
    "status.compensating": "compensating",
    "status.completed": "completed",
    "status.compensated": "compensated",
    "status.unknown": "unknown",

    "albums.createTitle": "New album",
    "albums.name": "Album name",
    "albums.create": "Create",
    "albums.nameRequired": "Enter a name",
    "albums.created": "Created album “{name}”",
    "albums.createFailed": "Could not create the album",
    "albums.listLabel": "Albums",
    "albums.empty": "No albums yet. The default album appears after your first upload completes.",
    "albums.loadFailed": "Could not fetch the albums",
    "albums.detailFailed": "Could not fetch the album",
    "albums.default": "default",
    "albums.defaultHint": "Default album: the upload saga puts processed media here automatically.",
    "albums.count": "{count} items",
    "albums.id": "ID",
    "albums.rename": "Rename",
    "albums.renameButton": "Rename",
    "albums.renamed": "Renamed to “{name}”",
    "albums.renameFailed": "Could not rename the album",
    "albums.delete": "Delete album",
    "albums.defaultNotDeletable": "The default album cannot be deleted.",
    "albums.deleted": "Deleted album “{name}”",
    "albums.deleteFailed": "Could not delete the album",
    "albums.contents": "Contents",
    "albums.contentsEmpty": "This album is empty.",
    "albums.addMedia": "Add media",
    "albums.choose": "Choose one",
    "albums.noCandidates": "No media can be added",
    "albums.add": "Add",
    "albums.added": "Added to the album",
    "albums.addFailed": "Could not add to the album",
    "albums.remove": "Remove",
    "albums.removed": "Removed from the album",
    "albums.removeFailed": "Could not remove from the album",

    "sagas.lead": "Each upload runs one saga. Pick a row to see its step timeline (updated live while it runs).",
    "sagas.filter": "Filter by status",
    "sagas.listLabel": "Sagas",
    "sagas.empty": "No sagas yet.",
    "sagas.loadFailed": "Could not fetch the sagas",
    "sagas.detailFailed": "Could not fetch the saga",
    "sagas.notFoundForMedia": "No saga found for this media yet",
    "sagas.saga": "Saga",
    "sagas.media": "Media",
    "sagas.currentStep": "Current step",
    "sagas.createdAt": "Started",
    "sagas.updatedAt": "Last update",
    "sagas.openMedia": "Open media",
    "sagas.liveHint": "running — updating live",
    "sagas.pipeline": "Steps",
    "sagas.timeline": "Timeline",
    "sagas.noSteps": "No steps recorded yet.",
    "sagas.attempt": "attempt {attempt}",
    "sagas.retry": "retry #{attempt}",
    "sagas.compensation": "compensation",
    "sagas.reason": "Reason",
    "sagas.events": "Saga events ({count})",
    "sagas.failureReason": "Failure reason",
    "sagas.fault": "Fault injection",
    "sagas.faultTag": "fault: {fault}",
    "sagas.filename": "File",
    "sagas.outcome": "Outcome",
    "sagas.fullId": "Saga ID: {id}",

    "step.process": "Process media",
    "step.process_media": "Process media",
    "step.album": "Add to album",
    "step.add_to_album": "Add to album",
    "step.add_to_default_album": "Add to default album",
    "step.notification": "Notify",
    "step.notify": "Notify",
    "step.send_notification": "Notify",
    "step.delete_uploaded": "Delete upload (compensation)",
    "step.delete_uploaded_file": "Delete upload (compensation)",
    "step.invalidate": "Invalidate media (compensation)",
    "step.invalidate_media": "Invalidate media (compensation)",

    "outcome.started": "started",
    "outcome.succeeded": "succeeded",
    "outcome.success": "succeeded",
    "outcome.failed": "failed",
    "outcome.retrying": "retrying",
    "outcome.timed_out": "timed out",
    "outcome.timeout": "timed out",
    "outcome.compensated": "compensated",
    "outcome.skipped": "skipped",
    "outcome.compensation_started": "compensation started",
    "step.compensation_started": "compensation started",

    "events.lead": "Your events stream in live, in global-log order (position). Pick a row to see its envelope.",
    "events.filterAggregate": "Aggregate type",
    "events.filterType": "Event type",
    "events.filterTypePlaceholder": "e.g. MediaUploaded",
    "events.filterCorrelation": "Correlation ID",
    "events.filterCorrelationPlaceholder": "UUID",
    "events.clear": "Clear",
    "events.pause": "Pause",
    "events.resume": "Resume",
    "events.resumeWithCount": "Resume ({count} new)",
    "events.counter": "showing {shown} / received {total} / latest position {head}",
    "events.listLabel": "Events",
    "events.empty": "No events yet. Upload some media and they will stream in.",
    "events.noMatch": "No event matches the filters.",
    "events.loadFailed": "Could not fetch the event history",
    "events.corrShort": "corr",
    "events.correlation": "Correlation ID",
    "events.emittedBy": "Emitted by: {service}",
    "events.follow": "Follow this correlation ID",
    "events.followFailed": "Could not fetch the correlation's events",
    "events.unfollow": "Stop following",
    "events.copy": "Copy JSON",
    "events.copied": "Copied",
    "events.copyFailed": "Could not copy",
    "events.flowTitle": "Flow of correlation",
    "events.flowHint": "{count} events, {ms} ms from first to last. Time flows downwards; each column is the service that emitted the event. Pick an event to mark its cause (causation) and effects.",
    "events.cause": "cause",
    "events.effect": "effect",
    "events.corrInvalid": "“{value}” is not a correlation ID. Enter a full UUID or a prefix of at least 8 hex characters.",
    "events.corrNotFound": "No correlation ID or event ID loaded in this page starts with “{value}”. Enter the full UUID (the API has no prefix search).",
    "events.corrAmbiguous": "{count} correlation IDs start with “{value}”. Type more characters.",
    "events.corrResolved": "Resolved “{value}” to correlation ID {id}.",
    "events.corrEmpty": "No events for this correlation ID (you only see your own events).",

    "notifications.readAll": "Mark all as read",
    "notifications.unreadOnly": "Unread only",
    "notifications.listLabel": "Notifications",
    "notifications.empty": "No notifications.",
    "notifications.loadFailed": "Could not fetch the notifications",
    "notifications.unreadFailed": "Could not fetch the unread count",
    "notifications.markRead": "Mark as read",
    "notifications.markFailed": "Could not mark as read",
    "notifications.unread": "unread",
    "notifications.unreadCount": "{count} unread",
    "notifications.new": "New notification",
    "notifications.openMedia": "media",
    "notifications.openSaga": "saga",
    "notifications.original": "Original server text: {text}",

    "notificationKind.upload_completed": "upload completed",
    "notificationKind.upload_succeeded": "upload completed",
    "notificationKind.media_ready": "upload completed",
    "notificationKind.upload_failed": "upload failed",
    "notificationKind.upload_compensated": "rolled back",
    "notificationKind.processing_failed": "processing failed",
    "notificationKind.media_invalidated": "invalidated",

    "problem.media.not_found": "Media not found",
    "problem.media.thumbnail_not_found": "No thumbnail yet",
    "problem.media.too_large": "The file is too large",
    "problem.media.unsupported_type": "Unsupported file type",
    "problem.media.empty_file": "The file is empty",
    "problem.media.missing_file": "No file was sent",
    "problem.media.invalid_state": "Not allowed in the media's current state",
    "problem.media.invalid_fault_inject": "Invalid fault injection value",
    "problem.album.not_found": "Album not found",
    "problem.album.invalid_name": "Invalid album name",
    "problem.album.already_exists": "The album already exists",
    "problem.album.default_not_deletable": "The default album cannot be deleted",
    "problem.album.media_not_in_album": "That media is not in the album",
    "problem.saga.not_found": "Saga not found",
    "problem.notification.not_found": "Notification not found",
    "problem.request.invalid_parameter": "A request parameter is invalid",
    "problem.request.invalid_body": "The request body is invalid",
    "problem.request.invalid_path": "The request path is invalid",
    "problem.request.payload_too_large": "The request is too large",
    "problem.request.unsupported_media_type": "Unsupported Content-Type",
    "problem.request.not_found": "Not found",
    "problem.auth.missing_token": "You need to log in",
    "problem.auth.invalid_token": "The token is invalid",
    "problem.auth.token_expired": "The token has expired",
    "problem.read_model.not_caught_up": "The read model has not caught up yet (retry in a moment)",
    "problem.upstream.unavailable": "Cannot reach the upstream service",
    "problem.upstream.timeout": "The upstream service did not answer in time",
    "problem.service.unavailable": "The service is temporarily unavailable",
    "problem.fault.injected": "Failed by fault injection",
    "problem.gateway.dev_login_disabled": "Development login is disabled",
    "problem.gateway.invalid_login": "Invalid login name",
    "problem.eventstore.version_conflict": "Conflicts with another change (version mismatch)",
    "problem.precondition_failed": "Conflicts with another change (If-Match does not match)",
    "problem.conflict": "Conflicts with another change",
    "problem.internal.error": "Internal server error",

    "server.uploadCompleted": "Upload of “{name}” completed",
    "server.uploadRolledBack": "Upload of “{name}” failed and was rolled back: {reason}",
    "server.participantReturned": "{url} returned {status}: {detail}",
    "server.participantUnreachable": "Cannot call {url}: {detail}",
    "server.notificationFailed": "The notification could not be delivered",
    "server.compensationFailed": "Could not complete compensation {step}: {reason}",
    "server.deadline": "No answer before the deadline ({ms} ms)",
    "server.deadlineNoEvent": "Accepted, but the result event did not arrive before the deadline ({ms} ms)",
    "server.imageUnreadable": "Cannot read the image: {detail}",
    "server.frameUnreadable": "Cannot read a frame: {detail}",
    "server.thumbnailUnwritable": "Cannot write the thumbnail: {detail}",

    "footer.swagger": "Swagger UI of each service",
    "footer.gateway": "Gateway",
  },
};

/**
 * 表示文を返します。`{name}` は params の値で置き換えます。
 * 今の言語に無ければ日本語、それも無ければ fallback (無ければキー) を返します。
 * @param {string} key キー
 * @param {Record<string, unknown>} [params] 埋め込む値
 * @param {string} [fallback] 辞書に無いときの文
 * @returns {string} 表示文
 */
export function t(key, params = {}, fallback) {
  const template = MESSAGES[store.locale]?.[key] ?? MESSAGES.ja[key] ?? fallback ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/**
 * 今の言語 (または日本語) の辞書にキーがあるか。
 * @param {string} key キー
 * @returns {boolean} あれば true
 */
export function hasMessage(key) {
  return Boolean(MESSAGES[store.locale]?.[key] ?? MESSAGES.ja[key]);
}

/**
 * サーバーが日本語で作る文 (通知の本文・Saga の失敗の理由など) の型と、それを訳すキー。
 * 型に合わなければ原文のまま表示します。{reason}・{detail} の部分は入れ子で訳します。
 * @type {Array<[RegExp, string, string[]]>}
 */
const SERVER_TEXTS = [
  [/^「(.+)」のアップロードが完了しました$/s, "server.uploadCompleted", ["name"]],
  [/^「(.+)」のアップロードは失敗し、取り消されました: (.*)$/s, "server.uploadRolledBack", ["name", "reason"]],
  [/^補償 (\S+) を完了できませんでした: (.*)$/s, "server.compensationFailed", ["step", "reason"]],
  [/^(\S+) が (.+?) を返しました: (.*)$/s, "server.participantReturned", ["url", "status", "detail"]],
  [/^(\S+) を呼べません: (.*)$/s, "server.participantUnreachable", ["url", "detail"]],
  [/^通知を届けられませんでした$/, "server.notificationFailed", []],
  [/^締め切り \((\d+) ms\) までに応答がありませんでした$/, "server.deadline", ["ms"]],
  [/^受け付けられましたが、締め切り \((\d+) ms\) までに結果のイベントが届きませんでした$/, "server.deadlineNoEvent", ["ms"]],
  [/^画像を読めません: (.*)$/s, "server.imageUnreadable", ["detail"]],
  [/^フレームを読めません: (.*)$/s, "server.frameUnreadable", ["detail"]],
  [/^サムネイルを書けません: (.*)$/s, "server.thumbnailUnwritable", ["detail"]],
];

/**
 * サーバーが作った日本語の文を、今の言語に訳します (日本語なら原文のまま)。
 * 知らない型の文は原文のまま返します。
 * @param {unknown} text サーバーの文
 * @returns {string} 表示する文
 */
export function localizeServerText(text) {
  const source = String(text ?? "");
  if (store.locale === "ja" || !source) {
    return source;
  }
  for (const [pattern, key, names] of SERVER_TEXTS) {
    const m = pattern.exec(source);
    if (m) {
      /** @type {Record<string, string>} */
      const params = {};
      names.forEach((name, i) => {
        const value = m[i + 1] ?? "";
        params[name] = name === "reason" || name === "detail" ? localizeServerText(value) : value;
      });
      return t(key, params);
    }
  }
  return source;
}

/**
 * 今の表示言語。
 * @returns {"ja"|"en"} 言語
 */
export function getLocale() {
  return store.locale === "en" ? "en" : "ja";
}

/**
 * 保存された表示言語を読みます (既定は日本語)。
 */
export function initLocale() {
  let saved = null;
  try {
    saved = window.localStorage.getItem(LOCALE_KEY);
  } catch {
    saved = null;
  }
  store.locale = saved === "en" ? "en" : "ja";
  document.documentElement.lang = store.locale;
}

/**
 * 表示言語を切り替え、画面の静的な文を書き換え、"locale-changed" を流します。
 * @param {"ja"|"en"} locale 言語
 */
export function setLocale(locale) {
  store.locale = locale === "en" ? "en" : "ja";
  document.documentElement.lang = store.locale;
  try {
    window.localStorage.setItem(LOCALE_KEY, store.locale);
  } catch {
    // 保存できなくても切り替えは効く
  }
  applyI18n(document);
  emit("locale-changed", { locale: store.locale });
}

/**
 * data-i18n 系の属性を持つ要素の文を、今の言語で書き換えます。
 * @param {ParentNode} root 対象の範囲 (document やテンプレートの複製)
 */
export function applyI18n(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(/** @type {HTMLElement} */ (el).dataset.i18n ?? "");
  }
  for (const [attr, name] of [
    ["i18nPlaceholder", "placeholder"],
    ["i18nAriaLabel", "aria-label"],
    ["i18nTitle", "title"],
  ]) {
    const selector = `[data-${attr.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}]`;
    for (const el of root.querySelectorAll(selector)) {
      el.setAttribute(name, t(/** @type {HTMLElement} */ (el).dataset[attr] ?? ""));
    }
  }
  if (root === document) {
    document.title = t("app.title");
  }
}

/**
 * 辞書のキーの一覧 (テストや確認用)。
 * @param {"ja"|"en"} locale 言語
 * @returns {string[]} キー
 */
export function messageKeys(locale) {
  return Object.keys(MESSAGES[locale]);
}
