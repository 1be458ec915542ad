# Varnish in front of Refract: the edge cache or an origin shield for a CDN.
#
# - Accept is normalised into the three classes that change Refract's output (AVIF-capable,
#   WebP-capable, other), so the cache holds at most three variants of a negotiated URL however
#   many different Accept strings browsers send; negotiated URLs also hash on the class.
# - Cookies are dropped; 200s are cached by Refract's Cache-Control; 404s briefly; 5xx never.
# - Grace keeps serving cached images while Refract is down or being refreshed.
# - Concurrent misses for one object wait for a single backend fetch (Varnish's waiting list).
# - X-Cache: HIT|MISS shows what happened.
# - Purge by original: Refract tags every image with its original's purge key (`xkey` header;
#   the same value as Surrogate-Key / Cache-Tag). `PURGE /` with `xkey-purge: KEY` (space-
#   separated for several) from an address in `purgers` drops every cached variant of those
#   originals. The key is in any image response's Surrogate-Key header, and in the answer of
#   Refract's `POST /admin/purge`. Needs the xkey vmod (Debian: varnish-modules).
#
# Set the backend below (or generate it); for several replicas, see the shard director note at
# the end. Tested by tests/edge.rs against a real varnishd.
vcl 4.1;

import std;
import xkey;

# Who may purge. Add the hosts that run your purge jobs.
acl purgers {
    "127.0.0.1";
    "::1";
}

backend refract {
    .host = "127.0.0.1";
    .port = "8080";
    .connect_timeout = 2s;
    .first_byte_timeout = 60s;   # a cache miss may transform a large original
    .probe = {
        .url = "/healthz";
        .interval = 2s;
        .timeout = 1s;
        .window = 3;
        .threshold = 2;
        # Start healthy: the default (threshold - 1) marks a fresh backend sick until a probe
        # lands, and every miss in that moment would get a 503.
        .initial = 2;
    }
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (!req.http.xkey-purge) {
            return (synth(400, "xkey-purge header required"));
        }
        set req.http.X-Purged = xkey.purge(req.http.xkey-purge);
        return (synth(200, "Purged " + req.http.X-Purged + " objects"));
    }
    # Operational endpoints are never cached.
    if (req.url ~ "^/(healthz|readyz|metrics|analytics)(\?|$)") {
        return (pass);
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    unset req.http.Cookie;

    # Normalise Accept (q=0 means "not acceptable").
    if (req.http.Accept ~ "image/avif" && req.http.Accept !~ "image/avif\s*;\s*q=0(\.0*)?\s*(,|$)") {
        set req.http.X-Image-Class = "avif";
        set req.http.Accept = "image/avif,image/webp,*/*";
    } elsif (req.http.Accept ~ "image/webp" && req.http.Accept !~ "image/webp\s*;\s*q=0(\.0*)?\s*(,|$)") {
        set req.http.X-Image-Class = "webp";
        set req.http.Accept = "image/webp,*/*";
    } else {
        set req.http.X-Image-Class = "other";
        set req.http.Accept = "*/*";
    }

    # While the origin is healthy, refresh stale objects promptly; when it is not, serve what
    # we have for as long as the object's grace allows.
    if (std.healthy(req.backend_hint)) {
        set req.grace = 10s;
    }
    return (hash);
}

sub vcl_hash {
    hash_data(req.url);
    if (req.http.host) {
        hash_data(req.http.host);
    }
    # Only negotiated URLs (fm=auto, auto=format) differ by client class; fixed-format URLs
    # share one object across all clients.
    if (req.url ~ "[?&](fm=auto|auto=[^&]*format)") {
        hash_data(req.http.X-Image-Class);
    }
    return (lookup);
}

sub vcl_synth {
    if (req.http.X-Purged) {
        set resp.http.X-Purged = req.http.X-Purged;
    }
}

sub vcl_backend_response {
    unset beresp.http.Set-Cookie;
    if (beresp.status >= 500) {
        # Never cache server errors; let the next request try the origin again.
        set beresp.ttl = 1s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    if (beresp.status == 404) {
        # The original may be uploaded soon.
        set beresp.ttl = 10s;
    }
    # 200s keep Refract's Cache-Control max-age as their TTL. Keep serving them for a day
    # after that if the origin is down (and refresh in the background when it is up).
    set beresp.grace = 24h;
    return (deliver);
}

sub vcl_deliver {
    # The tag is for this cache's purges; Surrogate-Key and Cache-Tag stay for a CDN in front.
    unset resp.http.xkey;
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}

# Several replicas: give each replica's in-memory cache a distinct slice of the URL space with a
# shard director (import directors; new shard = directors.shard(); shard.add_backend(r1); ...;
# shard.reconfigure(); then in vcl_recv: set req.backend_hint = shard.backend(by=URL);).
