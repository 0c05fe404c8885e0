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
// can open a connection and announce a body, and HMAC needs the whole
// body: these bound what unauthenticated clients can make the service
// hold. Memory held counts several times over in the service's resident
// size (the garbage collector lets the heap grow in proportion to what is
// live), so large bodies wait for their verification on disk instead.
const (
	// smallBody is the largest body held in memory while it is read.
	// GitHub's push and pull_request payloads are a few to a few hundred
	// KiB; most fit.
	smallBody = 256 << 10
	// bodyChunk is the unit bodies are read and accounted in: memory grows
	// with the bytes that arrive, not with the length announced.
	bodyChunk = 16 << 10
	// memoryBudget bounds the memory of bodies being read, across all
	// deliveries: 1,024 chunks, so at least as many deliveries at once.
	memoryBudget = 16 << 20
	// spoolBudget bounds the bytes of larger bodies being read into
	// temporary files (in $TMPDIR), reserved from their announced length
	// so that an admitted body can complete: two of the largest.
	spoolBudget = 2 * MaxWebhookBody
)

// Errors of reading a body.
var (
	// errTooLarge means a body is over MaxWebhookBody.
	errTooLarge = fmt.Errorf("body is over %d bytes", MaxWebhookBody)
	// errBusy means the budget for bodies in flight is spent.
	errBusy = errors.New("too many delivery bodies are being read; GitHub may redeliver")
)

// bodyBudget holds the budgets of bodies being read. A delivery that does
// not fit is refused at once rather than queued behind the clients that
// hold them.
type bodyBudget struct {
	memory, spool *semaphore.Weighted
}

func newBodyBudget() *bodyBudget {
	return &bodyBudget{memory: semaphore.NewWeighted(memoryBudget), spool: semaphore.NewWeighted(spoolBudget)}
}

// heldBody is a body read and not yet verified: in memory, or spooled to a
// temporary file when it is over smallBody or of unknown length.
type heldBody struct {
	budget *bodyBudget
	chunks [][]byte
	file   *os.File
	// memory and spool are the bytes reserved of each budget.
	memory, spool int64
}

// read reads a body of the announced length (-1: unknown) in chunks,
// feeding each to mac. It stops past MaxWebhookBody with errTooLarge and
// returns errBusy when a budget is spent; a read that fails (the client
// stalled past the server's read timeout, went away, or sent less than
// it announced) returns its error. The caller closes what it returns.
func (b *bodyBudget) read(r io.Reader, length int64, mac hash.Hash) (*heldBody, error) {
	h := &heldBody{budget: b}
	if err := h.read(r, length, mac); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

func (h *heldBody) read(r io.Reader, length int64, mac hash.Hash) error {
	if length < 0 || length > smallBody {
		n := length
		if n < 0 {
			n = MaxWebhookBody
		}
		if !h.budget.spool.TryAcquire(n) {
			return errBusy
		}
		h.spool = n
		f, err := os.CreateTemp("", "slipway-delivery-*")
		if err != nil {
			return fmt.Errorf("spool the body: %w", err)
		}
		h.file = f
	}
	var spoolBuf []byte
	var total int64
	for length < 0 || total < length {
		size := int64(bodyChunk)
		if length >= 0 {
			size = min(size, length-total)
		}
		size = min(size, MaxWebhookBody+1-total)
		chunk := spoolBuf
		if chunk == nil {
			// A body in memory takes what arrives, a chunk at most at a
			// time; a spooled body reads through one whole chunk.
			alloc := size
			if h.file != nil {
				alloc = bodyChunk
			}
			if !h.budget.memory.TryAcquire(alloc) {
				return errBusy
			}
			h.memory += alloc
			chunk = make([]byte, alloc)
			if h.file != nil {
				spoolBuf = chunk
			}
		}
		n, err := io.ReadFull(r, chunk[:size])
		if n > 0 {
			mac.Write(chunk[:n])
			total += int64(n)
			if h.file == nil {
				h.chunks = append(h.chunks, chunk[:n])
			} else if _, err := h.file.Write(chunk[:n]); err != nil {
				return fmt.Errorf("spool the body: %w", err)
			}
		}
		switch {
		case total > MaxWebhookBody:
			return errTooLarge
		case length < 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
			return nil
		case errors.Is(err, io.EOF):
			return io.ErrUnexpectedEOF
		case err != nil:
			return err
		}
	}
	return nil
}

// bytes returns the body in one slice: joined when it is in memory, read
// back when it is spooled (it is verified by then).
func (h *heldBody) bytes() ([]byte, error) {
	if h.file != nil {
		if _, err := h.file.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("read the spooled body: %w", err)
		}
		b, err := io.ReadAll(h.file)
		if err != nil {
			return nil, fmt.Errorf("read the spooled body: %w", err)
		}
		return b, nil
	}
	switch len(h.chunks) {
	case 0:
		return nil, nil
	case 1:
		return h.chunks[0], nil
	}
	var n int
	for _, c := range h.chunks {
		n += len(c)
	}
	out := make([]byte, 0, n)
	for _, c := range h.chunks {
		out = append(out, c...)
	}
	return out, nil
}

// close removes the spool file and gives the budgets back.
func (h *heldBody) close() {
	if h.file != nil {
		h.file.Close()
		os.Remove(h.file.Name())
	}
	if h.memory > 0 {
		h.budget.memory.Release(h.memory)
	}
	if h.spool > 0 {
		h.budget.spool.Release(h.spool)
	}
	h.chunks = nil
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
