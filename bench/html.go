package bench

import (
	"errors"
	"io"
)

// WriteHTML writes the report as a self-contained HTML page.
func WriteHTML(w io.Writer, r *Report) error { return errors.New("--html is not implemented yet") }
