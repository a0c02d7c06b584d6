// tus-upload.js: one upload with tus-js-client through an HTTP proxy, for
// cmd/sluss/tus_test.go. Usage: node tus-upload.js JSON, where JSON holds
//   endpoint    the tus server's creation URL
//   proxy       the proxy URL (credentials in it)
//   file        the file to upload
//   chunkSize   bytes per PATCH
//   metadata    Upload-Metadata as an object
//   storage     a file for tus-js-client's FileUrlStorage: the upload's
//               fingerprint is kept there, and a second run resumes it
//   abortAfter  abort the upload once this many bytes of the file went out
//               (in the middle of a PATCH's body), and exit
//   deferLength create the upload with Upload-Defer-Length
//   retry       let tus-js-client retry (default: a failure ends the run)
// It prints one JSON line: {"url": …} on success, {"aborted": true, "url": …}
// after an abort, and exits 1 on error. NODE_PATH must name the directory
// holding tus-js-client and the proxy agents (test.sh: .cache/npm/node_modules).
'use strict';
const fs = require('fs');
const { Readable, Transform } = require('stream');
const tus = require('tus-js-client');
const { HttpProxyAgent } = require('http-proxy-agent');
const { HttpsProxyAgent } = require('https-proxy-agent');

const o = JSON.parse(process.argv[2]);
const agent = o.endpoint.startsWith('https:') ? new HttpsProxyAgent(o.proxy) : new HttpProxyAgent(o.proxy);
const size = fs.statSync(o.file).size;
let aborted = false;
let resumed = false;
let upload;

// cutting wraps the HTTP stack so that a PATCH body stops at byte
// abortAfter of the file and the upload is aborted right there: the
// gateway sees a request cut in the middle of its body.
function cutting(stack) {
  return {
    getName: () => 'cutting ' + stack.getName(),
    createRequest(method, url) {
      const req = stack.createRequest(method, url);
      const send = req.send.bind(req);
      req.send = (body) => {
        if (!o.abortAfter || aborted || method !== 'PATCH' || !(body instanceof Readable)) {
          return send(body);
        }
        let at = Number(req.getHeader('Upload-Offset'));
        const cut = new Transform({
          transform(chunk, _enc, done) {
            if (aborted) return done();
            if (at + chunk.length >= o.abortAfter) {
              this.push(chunk.subarray(0, o.abortAfter - at));
              at = o.abortAfter;
              aborted = true;
              setTimeout(() => upload.abort(false).then(() => {
                console.log(JSON.stringify({ aborted: true, url: upload.url, sent: at }));
                process.exit(0);
              }), 200);
              return done();
            }
            at += chunk.length;
            done(null, chunk);
          },
        });
        cut.size = body.size;
        body.pipe(cut);
        return send(cut);
      };
      return req;
    },
  };
}

// A Buffer for deferred lengths: tus-js-client 4.3.1's fs.ReadStream source
// gives the last PATCH of a deferred upload the chunk size as its
// Content-Length, however few bytes are left.
const input = o.deferLength ? fs.readFileSync(o.file) : fs.createReadStream(o.file);
upload = new tus.Upload(input, {
  endpoint: o.endpoint,
  chunkSize: o.chunkSize,
  metadata: o.metadata || {},
  uploadSize: o.deferLength ? undefined : size,
  uploadLengthDeferred: !!o.deferLength,
  httpStack: cutting(new tus.DefaultHttpStack({ agent })),
  urlStorage: o.storage ? new tus.FileUrlStorage(o.storage) : undefined,
  storeFingerprintForResuming: !!o.storage,
  removeFingerprintOnSuccess: false,
  // A failure is a finding; a resumed upload may meet the interrupted
  // request still finishing at the gateway (423), which tus retries.
  retryDelays: o.retry ? [200, 1000, 3000] : null,
  onSuccess() {
    console.log(JSON.stringify({ url: upload.url, resumed }));
  },
  onError(err) {
    console.error(String(err));
    process.exit(1);
  },
});

(async () => {
  if (o.storage) {
    const previous = await upload.findPreviousUploads();
    if (previous.length > 0) {
      resumed = true;
      upload.resumeFromPreviousUpload(previous[0]);
    }
  }
  upload.start();
})();
