// Checks mediatasks' webhook signatures against the reference library,
// npm standardwebhooks. Reads {"sign": [...], "verify": [...]} as JSON on
// stdin and writes {"signatures": [...], "verified": [...]} on stdout.
//   sign:   {secret, id, timestamp (unix seconds), body}  -> "v1,<base64>"
//   verify: {secret, body, headers}                        -> {ok, error}
// verify checks the timestamp against this machine's clock (5 minutes).
"use strict";
const { Webhook } = require("standardwebhooks");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const req = JSON.parse(input);
  const signatures = (req.sign || []).map((s) =>
    new Webhook(s.secret).sign(s.id, new Date(s.timestamp * 1000), s.body));
  const verified = (req.verify || []).map((v) => {
    try {
      new Webhook(v.secret).verify(v.body, v.headers);
      return { ok: true };
    } catch (err) {
      return { ok: false, error: String(err && err.message) };
    }
  });
  process.stdout.write(JSON.stringify({ signatures, verified }));
});
