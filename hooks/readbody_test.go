package hooks

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// TestReadBody: a body is read to its limit whether it came with a
// Content-Length or chunked, without one, on a server that streams
// request bodies as the service's does.
func TestReadBody(t *testing.T) {
	t.Parallel()
	const limit = 16
	app := fiber.New(fiber.Config{StreamRequestBody: true})
	app.Post("/", func(c *fiber.Ctx) error {
		b, err := ReadBody(c, limit)
		if errors.Is(err, ErrBodyTooLarge) {
			return c.SendStatus(http.StatusRequestEntityTooLarge)
		}
		if err != nil {
			return err
		}
		return c.SendString(strconv.Itoa(len(b)))
	})
	ln := must(net.Listen("tcp", "127.0.0.1:0"))(t)
	go app.Listener(ln)
	t.Cleanup(func() { app.Shutdown() })
	for _, tt := range []struct {
		name    string
		size    int
		chunked bool
		want    int
	}{
		{"at the limit", limit, false, http.StatusOK},
		{"over the limit", limit + 1, false, http.StatusRequestEntityTooLarge},
		{"at the limit, chunked", limit, true, http.StatusOK},
		{"over the limit, chunked", 64 << 10, true, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var body io.Reader = strings.NewReader(strings.Repeat("x", tt.size))
			if tt.chunked {
				body = io.MultiReader(body) // of no known length: sent chunked
			}
			req := must(http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+ln.Addr().String()+"/", body))(t)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want || (tt.want == http.StatusOK && string(got) != strconv.Itoa(tt.size)) {
				t.Errorf("%d %q, want %d", resp.StatusCode, got, tt.want)
			}
		})
	}
}
