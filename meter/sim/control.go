package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// LoadRequest is the body of POST /v1/load.
type LoadRequest struct {
	Bus       int   `json:"bus"`
	Unit      uint8 `json:"unit"` // 0 = every meter on the bus
	Connected bool  `json:"connected"`
	LeaseMS   int   `json:"lease_ms"` // 0 = no lease
}

// ProfileRequest is the body of POST /v1/profile.
type ProfileRequest struct {
	Bus  int   `json:"bus"`
	Unit uint8 `json:"unit"` // 0 = every meter on the bus
	Profile
}

// SetpointRequest is the body of POST /v1/setpoint: the current an EVSE allows the load
// behind the meter (per phase, amperes); null removes the setpoint.
type SetpointRequest struct {
	Bus  int      `json:"bus"`
	Unit uint8    `json:"unit"` // 0 = every meter on the bus
	Amps *float64 `json:"amps"`
}

// Handler returns the HTTP control interface (documented in doc.go). Serve it on loopback
// only: it has no authentication.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/load", s.postLoad)
	mux.HandleFunc("POST /v1/profile", s.postProfile)
	mux.HandleFunc("POST /v1/setpoint", s.postSetpoint)
	mux.HandleFunc("GET /v1/meters", s.getMeters)
	mux.HandleFunc("GET /v1/meters/{unit}", s.getMeter)
	mux.HandleFunc("POST /v1/fault", s.postFault)
	mux.HandleFunc("GET /v1/faults", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Faults()) })
	mux.HandleFunc("DELETE /v1/faults", func(w http.ResponseWriter, _ *http.Request) {
		s.ClearFault(0)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /v1/fault/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil || id <= 0 || !s.ClearFault(id) {
			httpError(w, http.StatusNotFound, "no such fault")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, _ *http.Request) {
		n := 0
		for _, b := range s.buses {
			n += len(b.units)
		}
		writeJSON(w, http.StatusOK, map[string]any{"requests": s.Requests(), "meters": n, "buses": len(s.buses), "model": s.model.Name})
	})
	return mux
}

// targets resolves bus and unit (0 = all on the bus) to meters.
func (s *Sim) targets(bus int, unit uint8) ([]*Meter, error) {
	if bus < 0 || bus >= len(s.buses) {
		return nil, fmt.Errorf("no bus %d", bus)
	}
	b := s.buses[bus]
	if unit == 0 {
		var out []*Meter
		for _, u := range b.Units() {
			out = append(out, b.units[u])
		}
		return out, nil
	}
	m, ok := b.units[unit]
	if !ok {
		return nil, fmt.Errorf("no unit %d on bus %d", unit, bus)
	}
	return []*Meter{m}, nil
}

func (s *Sim) postLoad(w http.ResponseWriter, r *http.Request) {
	var req LoadRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.LeaseMS < 0 {
		httpError(w, http.StatusBadRequest, "lease_ms negative")
		return
	}
	// The lease is wall-clock time on the relay side; in simulated time it scales with the
	// clock's speed, so the contactor drops at the same moment either way.
	lease := s.simDuration(time.Duration(req.LeaseMS) * time.Millisecond)
	s.apply(w, req.Bus, req.Unit, func(m *Meter, now time.Time) { m.SetLoad(now, req.Connected, lease) })
}

// apply runs set on the meters bus and unit name (unit 0: all on the bus) at the simulator's
// now and answers 204, or 404 when there is no such meter.
func (s *Sim) apply(w http.ResponseWriter, bus int, unit uint8, set func(m *Meter, now time.Time)) {
	ms, err := s.targets(bus, unit)
	if err != nil {
		httpError(w, http.StatusNotFound, err.Error())
		return
	}
	now := s.clock.Now()
	for _, m := range ms {
		set(m, now)
	}
	w.WriteHeader(http.StatusNoContent)
}

// simDuration converts a wall-clock duration into simulated time.
func (s *Sim) simDuration(d time.Duration) time.Duration {
	if sc, ok := s.clock.(*scaledClock); ok {
		return time.Duration(float64(d) * sc.speed)
	}
	return d
}

func (s *Sim) postProfile(w http.ResponseWriter, r *http.Request) {
	var req ProfileRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.MaxW < 0 || req.RampWPerS < 0 || req.Phases < 0 || req.Phases > 3 || req.VoltageV < 0 {
		httpError(w, http.StatusBadRequest, "profile values out of range")
		return
	}
	s.apply(w, req.Bus, req.Unit, func(m *Meter, now time.Time) { m.SetProfile(now, req.Profile) })
}

func (s *Sim) postSetpoint(w http.ResponseWriter, r *http.Request) {
	var req SetpointRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Amps != nil && (*req.Amps < 0 || *req.Amps > 1000) {
		httpError(w, http.StatusBadRequest, "amps out of range 0..1000")
		return
	}
	s.apply(w, req.Bus, req.Unit, func(m *Meter, now time.Time) { m.SetSetpoint(now, req.Amps) })
}

func (s *Sim) getMeters(w http.ResponseWriter, _ *http.Request) {
	now := s.clock.Now()
	var out []State
	for _, b := range s.buses {
		for _, u := range b.Units() {
			out = append(out, s.state(b.units[u], now))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) getMeter(w http.ResponseWriter, r *http.Request) {
	unit, err := strconv.ParseUint(r.PathValue("unit"), 10, 8)
	bus := 0
	if err == nil && r.URL.Query().Get("bus") != "" {
		bus, err = strconv.Atoi(r.URL.Query().Get("bus"))
	}
	if err != nil {
		httpError(w, http.StatusBadRequest, "bad unit or bus")
		return
	}
	m, ok := s.Meter(bus, uint8(unit))
	if !ok {
		httpError(w, http.StatusNotFound, "no such meter")
		return
	}
	writeJSON(w, http.StatusOK, s.state(m, s.clock.Now()))
}

func (s *Sim) state(m *Meter, now time.Time) State {
	st := m.State(now)
	st.Faults = []Fault{}
	for _, f := range s.Faults() {
		if f.Bus == m.bus && (f.Unit == 0 || f.Unit == m.unit) {
			st.Faults = append(st.Faults, f)
		}
	}
	return st
}

func (s *Sim) postFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if !readJSON(w, r, &f) {
		return
	}
	id, err := s.AddFault(f)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, map[string]int{"id": id})
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		httpError(w, http.StatusBadRequest, "bad request body: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
