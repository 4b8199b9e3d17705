package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/chargegate/chargegate/gateway/access"
)

// openAccess builds the authorization component from the access section: signed capability
// tokens from the configured issuers, verified on the box, with the default offline policy.
// Without issuers there is none, and commands that carry a token are refused.
func (a *App) openAccess() (*access.Authorizer, error) {
	c := a.cfg.Access
	if len(c.Issuers) == 0 {
		return nil, nil
	}
	paths := map[string]string{}
	for _, s := range c.Issuers {
		kid, file, _ := strings.Cut(s, "=")
		paths[kid] = file
	}
	keys, err := access.LoadIssuerKeys(paths, os.ReadFile)
	if err != nil {
		return nil, fmt.Errorf("access.issuers: %w", err)
	}
	auth, err := access.New(access.Config{
		Dir: filepath.Join(a.cfg.Device.DataDir, "access"), Issuers: keys, EVSEID: a.cfg.Device.EVSEID,
		EVSEGroups: c.EVSEGroups, Policy: access.DefaultPolicy(), Log: a.log.With("part", "access"),
	})
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	return auth, nil
}
