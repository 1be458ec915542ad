"""Sign a Refract URL (see src/request/signature.rs for the canonical form).

Run: python3 examples/sign_url.py KEY '/photos/cat.jpg?w=400&fm=auto' [EXPIRES_UNIX]
"""
import hashlib, hmac, sys

def sign_url(key: str, path_and_query: str, expires: int | None = None) -> str:
    path, _, query = path_and_query.partition("?")
    pairs = [p for p in query.split("&") if p and p.split("=", 1)[0] != "s"]
    if expires is not None:
        pairs = [p for p in pairs if p.split("=", 1)[0] != "expires"] + [f"expires={expires}"]
    message = path + ("?" + "&".join(pairs) if pairs else "")
    sig = hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
    return f"{message}{'&' if pairs else '?'}s={sig}"

if __name__ == "__main__":
    print(sign_url(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None))
