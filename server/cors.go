package server

import "net/http"

// cors is the reference's "very permissive" CORS (API 1.6): the request's
// origin, method and headers are mirrored back with credentials allowed,
// and preflight requests are answered here.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
		if origin := r.Header.Get("Origin"); origin != "" {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		method := r.Header.Get("Access-Control-Request-Method")
		if r.Method != http.MethodOptions || method == "" {
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
