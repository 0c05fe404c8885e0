package canvas

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/workflow"
)

// MaxBody bounds a request body: a workflow of a thousand nodes is well
// under it.
const MaxBody = 4 << 20

// bodyError is a request body refused: its status and, when the place is
// known, the JSON pointer of what is wrong.
type bodyError struct {
	status  int
	pointer string
	msg     string
}

func (e *bodyError) Error() string { return e.msg }

// readJSON decodes the request body into v. Unknown fields are allowed,
// as the editor sends fields Slipway does not use; a body over MaxBody,
// one that is not JSON, or a value of the wrong type is refused with an
// error that names its JSON pointer.
func readJSON(c *fiber.Ctx, v any) error { return readJSONUpTo(c, v, MaxBody) }

// readJSONUpTo is readJSON for a body of at most limit bytes.
func readJSONUpTo(c *fiber.Ctx, v any, limit int) error {
	data, err := hooks.ReadBody(c, limit)
	switch {
	case errors.Is(err, hooks.ErrBodyTooLarge):
		return &bodyError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body: larger than %d bytes", limit)}
	case err != nil:
		return &bodyError{status: http.StatusBadRequest, msg: err.Error()}
	}
	return decodeJSON(data, v)
}

// decodeJSON decodes data into v, naming the JSON pointer of a problem.
// A body of more JSON values than a workflow file may hold is refused
// before it is decoded: a few MiB of empty values take hundreds once
// decoded, and more once written as a file.
func decodeJSON(data []byte, v any) error {
	if ptr, offset, ok := workflow.TooManyValues(data); ok {
		return &bodyError{status: http.StatusRequestEntityTooLarge, pointer: ptr,
			msg: fmt.Sprintf("request body: more than %d JSON values, the most a workflow file may hold, at %s (byte %d)", workflow.MaxValues, pointerText(ptr), offset)}
	}
	err := json.Unmarshal(data, v, json.RejectUnknownMembers(false))
	if err == nil {
		return nil
	}
	var se *json.SemanticError
	var syn *jsontext.SyntacticError
	switch {
	case errors.As(err, &syn):
		return &bodyError{status: http.StatusBadRequest, pointer: string(syn.JSONPointer),
			msg: fmt.Sprintf("request body: not JSON at %s (byte %d): %v", pointerText(string(syn.JSONPointer)), syn.ByteOffset, syn.Err)}
	case errors.As(err, &se):
		return &bodyError{status: http.StatusBadRequest, pointer: string(se.JSONPointer),
			msg: fmt.Sprintf("request body: %s: %s", pointerText(string(se.JSONPointer)), semanticText(se))}
	}
	return &bodyError{status: http.StatusBadRequest, msg: fmt.Sprintf("request body: %v", err)}
}

// pointerText shows a JSON pointer, "/" for the whole document.
func pointerText(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// semanticText says what a value of the wrong type is.
func semanticText(se *json.SemanticError) string {
	if se.JSONKind != 0 && se.GoType != nil {
		return fmt.Sprintf("a JSON %s cannot be a %s", se.JSONKind, se.GoType)
	}
	if se.Err != nil {
		return se.Err.Error()
	}
	return "invalid value"
}
