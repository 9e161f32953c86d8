package server

import (
	"net/http"
	"slices"
)

// cors answers cross-origin requests (API 1.6). The reference mirrors any
// origin with credentials allowed, which lets every web page a user visits
// act with that user's cookies or client certificate against the server.
// Here, by default, any origin may call the API, but without credentials
// (Access-Control-Allow-Origin: *): the API's bearer token is sent as a
// header a page sets itself, which CORS then allows, and nothing ambient
// rides along. Origins in allowed get the reference's behaviour: mirrored,
// with credentials; every other origin then gets no CORS answer at all.
// Preflight requests are answered here.
func cors(next http.Handler, allowed []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
		origin := r.Header.Get("Origin")
		ok := origin != ""
		switch {
		case !ok:
		case len(allowed) == 0:
			h.Set("Access-Control-Allow-Origin", "*")
		case slices.Contains(allowed, origin):
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
		default:
			ok = false
		}
		method := r.Header.Get("Access-Control-Request-Method")
		if r.Method != http.MethodOptions || method == "" || !ok {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Methods", method)
		if headers := r.Header.Values("Access-Control-Request-Headers"); len(headers) > 0 {
			for _, v := range headers {
				h.Add("Access-Control-Allow-Headers", v)
			}
		}
		writeEmpty(w, http.StatusOK)
	})
}
