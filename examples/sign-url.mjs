// Sign a Refract URL (see src/request/signature.rs for the canonical form).
//
// Run: node examples/sign-url.mjs KEY '/photos/cat.jpg?w=400&fm=auto' [EXPIRES_UNIX]
import { createHmac } from "node:crypto";

export function signUrl(key, pathAndQuery, expires) {
  const [path, query = ""] = pathAndQuery.split(/\?(.*)/s);
  let pairs = query.split("&").filter((p) => p && p.split("=")[0] !== "s");
  if (expires !== undefined) pairs = [...pairs.filter((p) => p.split("=")[0] !== "expires"), `expires=${expires}`];
  const message = path + (pairs.length ? "?" + pairs.join("&") : "");
  const sig = createHmac("sha256", key).update(message).digest("hex");
  return `${message}${pairs.length ? "&" : "?"}s=${sig}`;
}

const [key, url, expires] = process.argv.slice(2);
if (key && url) console.log(signUrl(key, url, expires === undefined ? undefined : Number(expires)));
