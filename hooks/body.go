package hooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"golang.org/x/sync/semaphore"
)

// Bounds on the bodies held before their signatures are checked. Anyone
// can open a connection and announce a body: HMAC needs the whole body,
// so these bound what unauthenticated clients can make the service hold.
const (
	// smallBody is the largest body read on the small budget. GitHub's
	// push and pull_request payloads are a few to a few hundred KiB; most
	// fit.
	smallBody = 256 << 10
	// smallBudget bounds the bytes reserved for small bodies being read:
	// 128 deliveries of the largest small size, hundreds of typical ones.
	smallBudget = 32 << 20
	// largeBudget bounds the bytes reserved for bodies over smallBody
	// being read: two of the largest. It is separate, so that clients
	// announcing big bodies and stalling cannot starve the small ones.
	largeBudget = 2 * MaxWebhookBody
	// bodyChunk is the unit bodies are read in: memory grows with the
	// bytes that arrive, not with the length announced.
	bodyChunk = 64 << 10
)

// Errors of reading a body.
var (
	// errTooLarge means a body is over MaxWebhookBody.
	errTooLarge = fmt.Errorf("body is over %d bytes", MaxWebhookBody)
	// errBusy means the budget for bodies in flight is spent.
	errBusy = errors.New("too many delivery bodies are being read; GitHub may redeliver")
)

// bodyBudget reserves the bytes of bodies being read, before they are
// read: a delivery whose announced length does not fit is refused at once
// rather than queued behind the clients that hold the budget.
type bodyBudget struct {
	small, large *semaphore.Weighted
}

func newBodyBudget() *bodyBudget {
	return &bodyBudget{small: semaphore.NewWeighted(smallBudget), large: semaphore.NewWeighted(largeBudget)}
}

// reserve reserves n bytes (n < 0: unknown, up to MaxWebhookBody) and
// returns the function that gives them back, or errBusy.
func (b *bodyBudget) reserve(n int64) (func(), error) {
	sem := b.small
	switch {
	case n < 0:
		sem, n = b.large, MaxWebhookBody
	case n > smallBody:
		sem = b.large
	case n == 0:
		n = 1 // an empty body still holds a connection's request
	}
	if !sem.TryAcquire(n) {
		return nil, errBusy
	}
	return func() { sem.Release(n) }, nil
}

// readBody reads a body of the announced length (-1: unknown) in chunks,
// feeding each to h, and returns the chunks. It stops past MaxWebhookBody
// with errTooLarge; a read that fails (the client stalled past the
// server's read timeout, went away, or sent less than it announced)
// returns its error.
func readBody(r io.Reader, length int64, h hash.Hash) ([][]byte, error) {
	var chunks [][]byte
	var total int64
	for length < 0 || total < length {
		size := int64(bodyChunk)
		if length >= 0 {
			size = min(size, length-total)
		}
		chunk := make([]byte, min(size, MaxWebhookBody+1-total))
		n, err := io.ReadFull(r, chunk)
		if n > 0 {
			chunks = append(chunks, chunk[:n])
			h.Write(chunk[:n])
			total += int64(n)
		}
		switch {
		case total > MaxWebhookBody:
			return nil, errTooLarge
		case length < 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
			return chunks, nil
		case errors.Is(err, io.EOF):
			return nil, io.ErrUnexpectedEOF
		case err != nil:
			return nil, err
		}
	}
	return chunks, nil
}

// join returns the chunks as one slice, copying only when there are more.
func join(chunks [][]byte) []byte {
	switch len(chunks) {
	case 0:
		return nil
	case 1:
		return chunks[0]
	}
	var n int
	for _, c := range chunks {
		n += len(c)
	}
	out := make([]byte, 0, n)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out
}

// signaturePrefix is the only algorithm X-Hub-Signature-256 may name.
const signaturePrefix = "sha256="

// parseSignature returns the MAC of an X-Hub-Signature-256 value: sha256=
// and 64 hex digits, nothing else.
func parseSignature(sig string) ([]byte, bool) {
	hexMAC, ok := strings.CutPrefix(sig, signaturePrefix)
	if !ok || len(hexMAC) != 2*sha256.Size {
		return nil, false
	}
	mac, err := hex.DecodeString(hexMAC)
	return mac, err == nil
}

// timedOut reports whether a read failed on the connection's deadline.
func timedOut(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// newMAC returns the HMAC a delivery is signed with.
func newMAC(secret []byte) hash.Hash { return hmac.New(sha256.New, secret) }
