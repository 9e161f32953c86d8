package client_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/internal/testserver"
)

// TestAccessToken: the client sends its access token; a server with
// tokens on refuses a client without one (401 authn, not retried) and
// serves one with the right one.
func TestAccessToken(t *testing.T) {
	const root = "client-test-root-token-0123456789"
	srv := testserver.Start(t, testserver.Options{RootToken: root})
	ctx := context.Background()
	for _, c := range []struct {
		token string
		want  int
	}{{"", http.StatusUnauthorized}, {"wrong-token", http.StatusUnauthorized}, {root, 0}} {
		cl, err := client.New(client.Config{AccountEndpoint: srv.URL, AccessToken: c.token})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cl.ListBasins(ctx, client.ListOptions{})
		cl.Close()
		var e *client.Error
		switch {
		case c.want == 0 && err != nil:
			t.Fatalf("token %q: %v", c.token, err)
		case c.want != 0 && (!errors.As(err, &e) || e.Status != c.want || e.Code != "authn" || e.Retryable()):
			t.Fatalf("token %q: %v", c.token, err)
		}
	}
}
