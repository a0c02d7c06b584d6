// Package bench measures a sluss gateway from the outside, the way a
// security team would before approving it: throughput, latency, and the
// gateway's CPU and memory per gigabyte, side by side with no proxy at all
// and with the MITM proxies the team already knows.
//
// For most uses, run `sluss bench` (which calls [Run]); read the table
// ([WriteTable]), or ask for the [Report] as JSON (--json, schema in
// report.schema.json) or as a self-contained HTML page ([WriteHTML]).
// To see what a change to the gateway did, compare with an earlier report
// ([CompareWithBaseline], --baseline); to see where its CPU goes, record it
// with Linux perf (Options.PerfDir, --perf). bench/README.md explains every
// figure and shows a full run.
//
// Every party runs as its own process so that each one's CPU time is its
// own: the HTTPS sink upstream ([ServeSink], `sluss bench --serve-sink`),
// the gateway under test (`sluss serve`, or one already running given by
// address), optional peers (mitmdump, squid with ssl-bump), and the load
// generators, which are the only work done by the calling process.
//
// A [Scenario] says what a request looks like (an 8 MiB upload, a download of
// an encrypted object, a JSON form with personnummer, a 1 KiB POST, an API
// call); a [Mode] says which way it goes (direct, through the gateway with
// inspection only or with its full policy, through a peer). Each scenario ×
// mode cell is warmed up, then measured several times; the report keeps
// min/median/max over those runs and flags cells where the machine, not the
// proxy, was the limit.
//
// The soak (scenario soak, only when named) is measured its own way: 1 000
// mostly idle users on one gateway for minutes, the gateway's memory,
// descriptors and goroutines sampled over time, and a verdict ([Soak]):
// no error, flat after warm-up, every stored object back intact.
//
// The s3 scenario (only when named) starts a real S3 server, versitygw,
// and a gateway with an s3 service in front of it, and measures minio-go
// multipart uploads and whole downloads both ways ([S3Run]); it needs
// versitygw on PATH or in GOPATH/bin.
//
// The shared scenario (only when named) starts three gateways behind
// HAProxy twice, with their own bbolt stores and with one PostgreSQL,
// and measures form posts per second and re-identification latency, cold
// and warm, in both ([SharedRun]); it needs haproxy and PostgreSQL 15.
package bench
