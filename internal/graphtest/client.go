package graphtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Client uploads files the way Microsoft documents it: create an upload
// session on the API host with the bearer token, PUT the fragments in
// order to the uploadUrl without it, resume from nextExpectedRanges.
type Client struct {
	HTTP    *http.Client
	APIBase string // https://graph.microsoft.com/v1.0
	Token   string
	// NoFileSize leaves item.fileSize out of createUploadSession: the
	// size is then known from the first fragment's Content-Range.
	NoFileSize bool
}

// Session is an open upload session.
type Session struct {
	UploadURL          string   `json:"uploadUrl"`
	ExpirationDateTime string   `json:"expirationDateTime"`
	NextExpectedRanges []string `json:"nextExpectedRanges"`
}

// NextOffset is the start of the first range the server expects.
func (s *Session) NextOffset() (int64, error) {
	if len(s.NextExpectedRanges) == 0 {
		return 0, fmt.Errorf("no nextExpectedRanges")
	}
	a, _, _ := strings.Cut(s.NextExpectedRanges[0], "-")
	return strconv.ParseInt(a, 10, 64)
}

// DriveItem is the part of a driveItem the tests look at.
type DriveItem struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	File *struct {
		Hashes map[string]string `json:"hashes"`
	} `json:"file"`
	DownloadURL string `json:"@microsoft.graph.downloadUrl"`
}

// StatusError is an answer other than the one expected.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string { return fmt.Sprintf("status %d: %s", e.Status, e.Body) }

// CreateSession creates an upload session for a file at path (below the
// root of the user's drive); size < 0 leaves item.fileSize out.
func (c *Client) CreateSession(ctx context.Context, path string, size int64) (*Session, error) {
	item := map[string]any{"@microsoft.graph.conflictBehavior": "replace", "name": path[strings.LastIndex(path, "/")+1:]}
	if size >= 0 {
		item["fileSize"] = size
	}
	body, _ := json.Marshal(map[string]any{"item": item})
	u := c.APIBase + "/me/drive/root:/" + escapePath(path) + ":/createUploadSession"
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/json")
	var s Session
	return &s, c.do(req, http.StatusOK, &s)
}

// PutFragment sends n bytes of r as the fragment at offset off of a file
// of total bytes. The answer is a *Session (202) or a *DriveItem (200, 201).
func (c *Client) PutFragment(ctx context.Context, uploadURL string, r io.Reader, off, n, total int64) (any, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, uploadURL, r)
	req.ContentLength = n
	req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, total))
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	switch resp.StatusCode {
	case http.StatusAccepted:
		var s Session
		return &s, json.Unmarshal(b, &s)
	case http.StatusOK, http.StatusCreated:
		var it DriveItem
		return &it, json.Unmarshal(b, &it)
	}
	return nil, &StatusError{resp.StatusCode, string(b)}
}

// Status asks the upload URL where to resume.
func (c *Client) Status(ctx context.Context, uploadURL string) (*Session, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, uploadURL, nil)
	var s Session
	return &s, c.do(req, http.StatusOK, &s)
}

// Cancel deletes an upload session.
func (c *Client) Cancel(ctx context.Context, uploadURL string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, uploadURL, nil)
	return c.do(req, http.StatusNoContent, nil)
}

// Upload uploads size bytes of r to path in fragments of fragment bytes
// (a multiple of 320 KiB), resuming from nextExpectedRanges after each
// answer, and returns the driveItem.
func (c *Client) Upload(ctx context.Context, path string, r io.ReaderAt, size, fragment int64) (*DriveItem, error) {
	declared := size
	if c.NoFileSize {
		declared = -1
	}
	s, err := c.CreateSession(ctx, path, declared)
	if err != nil {
		return nil, fmt.Errorf("createUploadSession: %w", err)
	}
	off := int64(0)
	for {
		n := min(fragment, size-off)
		reply, err := c.PutFragment(ctx, s.UploadURL, io.NewSectionReader(r, off, n), off, n, size)
		if err != nil {
			return nil, fmt.Errorf("fragment at %d: %w", off, err)
		}
		switch v := reply.(type) {
		case *DriveItem:
			return v, nil
		case *Session:
			if off, err = v.NextOffset(); err != nil {
				return nil, err
			}
		}
	}
}

// Item gets the driveItem at a path below the root.
func (c *Client) Item(ctx context.Context, path string) (*DriveItem, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.APIBase+"/me/drive/root:/"+escapePath(path), nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	var it DriveItem
	return &it, c.do(req, http.StatusOK, &it)
}

// Children lists the folder at a path below the root.
func (c *Client) Children(ctx context.Context, path string) ([]DriveItem, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.APIBase+"/me/drive/root:/"+escapePath(path)+":/children", nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	var list struct {
		Value []DriveItem `json:"value"`
	}
	return list.Value, c.do(req, http.StatusOK, &list)
}

// Download gets an item's content (following the redirect to the
// download host), with a Range header if rng is not empty.
func (c *Client) Download(ctx context.Context, id, rng string) (*http.Response, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.APIBase+"/me/drive/items/"+url.PathEscape(id)+"/content", nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	return c.HTTP.Do(req)
}

func (c *Client) do(req *http.Request, want int, into any) error {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return &StatusError{resp.StatusCode, string(b)}
	}
	if into != nil {
		return json.Unmarshal(b, into)
	}
	return nil
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i := range parts {
		parts[i] = url.PathEscape(parts[i])
	}
	return strings.Join(parts, "/")
}
