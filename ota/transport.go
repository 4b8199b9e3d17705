package ota

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// safeClient returns a copy of c whose redirect policy refuses what a bundle download must
// never follow: a scheme other than http and https (file://, ftp://, data:) and a step down
// from https to http. c's own CheckRedirect runs after this policy.
func safeClient(c *http.Client) *http.Client {
	cp := *c
	next := c.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if s := req.URL.Scheme; s != "http" && s != "https" {
			return fmt.Errorf("%w: to a %s: URL", ErrRedirect, s)
		}
		if req.URL.Scheme == "http" {
			for _, v := range via {
				if v.URL.Scheme == "https" {
					return fmt.Errorf("%w: from https to http", ErrRedirect)
				}
			}
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cp
}

// classify turns an HTTP client error into a permanent error (ErrRedirect, ErrCertificate)
// or a transient one (errTransient), without the URL.
func classify(err error) error {
	switch {
	case errors.Is(err, ErrRedirect):
		return redact(err)
	case certificateError(err):
		return fmt.Errorf("%w: %v", ErrCertificate, redact(err))
	}
	return fmt.Errorf("%w: get bundle: %v", errTransient, redact(err))
}

// certificateError reports whether err is a failed verification of the server's
// certificate chain or name.
func certificateError(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var hn x509.HostnameError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &ci) || errors.As(err, &hn)
}

// redact drops the URL from an HTTP client error: bundle URLs may carry access tokens, and
// errors end up in logs and in the status sent to the operator.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// redactURL is rawURL without its query and user info, for error messages.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// counter counts the bytes read through it; the rate guard reads the count.
type counter struct {
	r io.Reader
	n atomic.Int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// guardRate watches one request in windows of StallTimeout: a window in which no body byte
// arrived (or, before the response, no headers) cancels the request as stalled, which is
// transient and resumed; two windows in a row with some bytes but fewer than MinRate ×
// StallTimeout cancel it with ErrTooSlow, which is permanent. One slow window alone is
// what a connection cut mid-window looks like (the next one is empty), so it is not
// enough. Windows follow each other from the request's start and are not pushed out by
// arriving bytes. The returned func stops the guard.
func (a *Agent) guardRate(ctx context.Context, got *counter, cancel context.CancelCauseFunc) (stop func()) {
	window := a.cfg.StallTimeout
	need := max(int64(float64(a.cfg.MinRate)*window.Seconds()), 1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(window)
		defer t.Stop()
		var last int64
		slow := false
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			n := got.n.Load()
			d := n - last
			last = n
			switch {
			case d == 0:
				cancel(fmt.Errorf("%w: %w in %v", errTransient, errStalled, window))
				return
			case d < need && slow:
				cancel(fmt.Errorf("%w: %d bytes in %v, want at least %d B/s", ErrTooSlow, d, window, a.cfg.MinRate))
				return
			}
			slow = d < need
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// newBackoff is the project's one retry policy (cenkalti/backoff): initial doubling to at
// most maxInterval, each delay randomised by ±50 % so that a fleet does not retry in step.
func newBackoff(initial, maxInterval time.Duration) *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = initial
	b.MaxInterval = max(maxInterval, initial)
	b.Multiplier = 2
	b.RandomizationFactor = 0.5
	b.Reset()
	return b
}
