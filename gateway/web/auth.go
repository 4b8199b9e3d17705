package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Role is what a request may do.
type Role string

// Roles. The operator token gives Admin; the viewer token, derived from it (ViewerToken), gives
// Viewer: live values, sessions, events and the verify button, no commands and no installer
// tools. Without a configured token (the loopback default) every request is Admin.
const (
	RoleNone   Role = ""
	RoleViewer Role = "viewer"
	RoleAdmin  Role = "admin"
)

// cookieName is the UI's login cookie.
const cookieName = "chargegate_session"

// loginLifetime is how long a browser login lasts.
const loginLifetime = 12 * time.Hour

// ViewerToken derives the read-only token for drivers from the operator token: the first 32
// hex digits of HMAC-SHA256(token, "chargegate viewer v1"). Rotating the operator token rotates
// it too; "" for no token.
func ViewerToken(token string) string {
	if token == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("chargegate viewer v1"))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// auth decides roles from bearer tokens and login cookies and guards state-changing requests
// against cross-site forgery.
type auth struct {
	token, viewer string
	key           [32]byte // signs login cookies and CSRF tokens; new at every start
	now           func() time.Time
}

func newAuth(token string) *auth {
	a := &auth{token: token, viewer: ViewerToken(token), now: time.Now}
	rand.Read(a.key[:])
	return a
}

// roleOfToken returns the role a presented token gives.
func (a *auth) roleOfToken(t string) Role {
	switch {
	case a.token == "":
		return RoleAdmin
	case t == "":
		return RoleNone
	case subtle.ConstantTimeCompare([]byte(t), []byte(a.token)) == 1:
		return RoleAdmin
	case subtle.ConstantTimeCompare([]byte(t), []byte(a.viewer)) == 1:
		return RoleViewer
	}
	return RoleNone
}

// sign returns HMAC(key, parts joined by "|") in base64url.
func (a *auth) sign(parts ...string) string {
	m := hmac.New(sha256.New, a.key[:])
	m.Write([]byte(strings.Join(parts, "|")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// cookieValue is "role.expiry.mac" (expiry in Unix seconds).
func (a *auth) cookieValue(r Role) string {
	exp := strconv.FormatInt(a.now().Add(loginLifetime).Unix(), 10)
	return string(r) + "." + exp + "." + a.sign("login", string(r), exp)
}

// roleOfCookie checks a login cookie's MAC and expiry.
func (a *auth) roleOfCookie(v string) Role {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return RoleNone
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || a.now().Unix() > exp {
		return RoleNone
	}
	if !hmac.Equal([]byte(parts[2]), []byte(a.sign("login", parts[0], parts[1]))) {
		return RoleNone
	}
	switch Role(parts[0]) {
	case RoleAdmin, RoleViewer:
		return Role(parts[0])
	}
	return RoleNone
}

// csrfToken is the token a page must echo in X-CSRF-Token on a state-changing request made
// with the login cookie: bound to that cookie, readable only by a same-origin script.
func (a *auth) csrfToken(cookie string) string { return a.sign("csrf", cookie) }

type roleKey struct{}

// roleOf returns the role the middleware found for r.
func roleOf(r *http.Request) Role {
	role, _ := r.Context().Value(roleKey{}).(Role)
	return role
}

// cookieLogin reports whether r was authenticated by the login cookie (and so needs the CSRF
// token on unsafe methods) rather than by a bearer token, which a browser never sends by itself.
type cookieLoginKey struct{}

// middleware finds the request's role and enforces the route's minimum: public routes pass,
// the rest need a viewer or an admin. State-changing requests authenticated by cookie (or by
// nothing, when no token is configured) must come from the same origin and carry the CSRF token.
func (a *auth) middleware(need func(r *http.Request) Role, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, byCookie := RoleNone, false
		if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			role = a.roleOfToken(t)
		} else if c, err := r.Cookie(cookieName); err == nil && a.token != "" {
			role, byCookie = a.roleOfCookie(c.Value), true
		} else if a.token == "" {
			role, byCookie = RoleAdmin, true
		}
		want := need(r)
		if want != RoleNone && role == RoleNone {
			w.Header().Set("WWW-Authenticate", `Bearer realm="chargegate"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if want == RoleAdmin && role != RoleAdmin {
			http.Error(w, "forbidden: this needs the operator token", http.StatusForbidden)
			return
		}
		if byCookie && unsafeMethod(r.Method) && !a.sameOrigin(r, role) {
			http.Error(w, "forbidden: cross-site request or missing CSRF token", http.StatusForbidden)
			return
		}
		ctx := context.WithValue(r.Context(), roleKey{}, role)
		ctx = context.WithValue(ctx, cookieLoginKey{}, byCookie)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// sameOrigin accepts a state-changing browser request only from the UI itself: the browser's
// Sec-Fetch-Site and Origin must not name another site, and X-CSRF-Token must match the
// session (a cross-site page can send the cookie but cannot read the token).
func (a *auth) sameOrigin(r *http.Request, role Role) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	if r.URL.Path == "/api/v1/login" {
		return true // nothing to steal yet: the token is the proof
	}
	got := r.Header.Get("X-CSRF-Token")
	want := a.csrfToken(a.cookieOf(r, role))
	return got != "" && hmac.Equal([]byte(got), []byte(want))
}

// cookieOf is what the CSRF token is bound to: the login cookie, or the role when no token is
// configured (every visitor is the same anonymous admin; the MAC key still differs per start).
func (a *auth) cookieOf(r *http.Request, role Role) string {
	if c, err := r.Cookie(cookieName); err == nil && a.token != "" {
		return c.Value
	}
	return "anonymous:" + string(role)
}

// whoami answers GET /api/v1/session: the role, for cookie logins the CSRF token, and for an
// operator the viewer token.
func (a *auth) whoami(w http.ResponseWriter, r *http.Request) {
	role := roleOf(r)
	out := map[string]any{"role": role, "token_required": a.token != ""}
	if role == RoleAdmin && a.viewer != "" {
		out["viewer_token"] = a.viewer // the operator hands it to drivers
	}
	if byCookie, _ := r.Context().Value(cookieLoginKey{}).(bool); byCookie {
		out["csrf"] = a.csrfToken(a.cookieOf(r, role))
	}
	writeJSON(w, http.StatusOK, out)
}

// login answers POST /api/v1/login {"token": "..."} with the login cookie (HttpOnly,
// SameSite=Strict), and POST /api/v1/logout by expiring it.
func (a *auth) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil {
		http.Error(w, "bad request: want {\"token\": \"...\"}", http.StatusBadRequest)
		return
	}
	role := a.roleOfToken(strings.TrimSpace(in.Token))
	if role == RoleNone || a.token == "" {
		if a.token == "" {
			writeJSON(w, http.StatusOK, map[string]any{"role": RoleAdmin})
			return
		}
		http.Error(w, "unknown token", http.StatusUnauthorized)
		return
	}
	v := a.cookieValue(role)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: v, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: int(loginLifetime / time.Second)})
	writeJSON(w, http.StatusOK, map[string]any{"role": role, "csrf": a.csrfToken(v)})
}

func (a *auth) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

// writeJSON writes v as JSON, never cached.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
