package testutil

import (
	"net"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// ServeApp serves app on a loopback port until the test ends, and returns
// its base URL. The app shuts down in the test's cleanup, after what the
// test registers later and before what it registered earlier: close the
// streams the app holds in a later cleanup, its store in an earlier one.
func ServeApp(t testing.TB, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return "http://" + ln.Addr().String()
}
