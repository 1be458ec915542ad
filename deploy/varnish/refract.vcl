# Varnish in front of Refract: the edge cache or an origin shield for a CDN, over one replica or
# many.
#
# - Accept is normalised into the three classes that change Refract's output (AVIF-capable,
#   WebP-capable, other), so the cache holds at most three variants of a negotiated URL however
#   many different Accept strings browsers send; negotiated URLs also hash on the class.
# - Cookies are dropped; 200s are cached by Refract's Cache-Control; 404s briefly; 5xx never.
# - Replicas: every variant of one original goes to the same replica (a shard director keyed by
#   the URL's path), so each replica's originals and masters caches hold its share of the
#   originals once; a replica that fails its probe (/readyz, once a second, sick after two
#   misses) is skipped, and its originals move to the next replica on the ring.
# - Retries: a GET or HEAD whose fetch fails (connection refused or reset, timeout) or answers
#   5xx is tried again on the next replica, twice at most. Uploads and other requests with a
#   body are never retried: their client is told.
# - Grace keeps serving cached images while every replica is down or being refreshed, and a
#   background refresh that fails keeps the stale object instead of replacing it with an error.
# - Concurrent misses for one object wait for a single backend fetch (Varnish's waiting list).
# - X-Cache: HIT|MISS shows what happened.
# - Purge by original: Refract tags every image with its original's purge key (`xkey` header;
#   the same value as Surrogate-Key / Cache-Tag). `PURGE /` with `xkey-purge: KEY` (space-
#   separated for several) from an address in `purgers` drops every cached variant of those
#   originals. The key is in any image response's Surrogate-Key header, and in the answer of
#   Refract's `POST /admin/purge`. Needs the xkey vmod (Debian: varnish-modules).
#
# Set the replicas in the "replicas" section below: one backend block and one add_backend line
# each. Tested by tests/edge.rs (one replica) and tests/faults.rs (two replicas over one variant
# store and one broker, with a replica killed, the store and the broker stopped, under load)
# against a real varnishd; both generate that section.
vcl 4.1;

import directors;
import std;
import xkey;

# Who may purge. Add the hosts that run your purge jobs.
acl purgers {
    "127.0.0.1";
    "::1";
}

# How Varnish decides a replica is up: /readyz answers 503 from the moment a replica begins a
# graceful shutdown, so it is drained before it stops; a killed one stops answering. Probed every
# second, a replica is sick after two failures in the last three probes (~2 s) and healthy again
# after two successes.
probe refract_ready {
    .url = "/readyz";
    .interval = 1s;
    .timeout = 1s;
    .window = 3;
    .threshold = 2;
    # Start healthy: the default (threshold - 1) marks a fresh backend sick until a probe lands,
    # and every miss in that moment would get a 503.
    .initial = 2;
}

# BEGIN replicas (tests generate this section: keep its shape)
backend replica1 {
    .host = "127.0.0.1";
    .port = "8080";
    .connect_timeout = 2s;
    .first_byte_timeout = 60s;   # a cache miss may transform a large original
    .probe = refract_ready;
}

sub vcl_init {
    new replicas = directors.shard();
    replicas.add_backend(replica1);
    replicas.reconfigure();
}
# END replicas

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
    # The director itself; each fetch picks its replica (vcl_backend_fetch).
    set req.backend_hint = replicas.backend(resolve=LAZY);
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

sub vcl_backend_fetch {
    # All variants of one original on one replica; a retry takes the next one on the ring.
    # Requests with a body (uploads, purges) go wherever the ring puts their path: they are
    # not retried.
    set bereq.backend = replicas.backend(
        by=KEY,
        key=replicas.key(regsub(bereq.url, "\?.*$", "")),
        alt=bereq.retries);
}

sub vcl_backend_error {
    # Refused, reset or timed out: another replica may answer. A body is never sent twice.
    if (bereq.retries < 2 && (bereq.method == "GET" || bereq.method == "HEAD")) {
        return (retry);
    }
}

sub vcl_backend_response {
    unset beresp.http.Set-Cookie;
    if (beresp.status >= 500) {
        if (bereq.retries < 2 && (bereq.method == "GET" || bereq.method == "HEAD")) {
            # A replica overloaded (503), cut off from the store (502/504) or failing: try the
            # next one.
            return (retry);
        }
        if (bereq.is_bgfetch) {
            # A background refresh failed: keep serving the stale object.
            return (abandon);
        }
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
