package sim

import (
	"encoding/json"
	"net/http"
)

// VehicleRequest is the body of a POST to a Vehicle's HTTP handler: the
// fields given change, the others stay.
type VehicleRequest struct {
	Plugged      *bool `json:"plugged,omitempty"`
	Request      *bool `json:"request,omitempty"`
	Ventilation  *bool `json:"ventilation,omitempty"`
	DiodeRemoved *bool `json:"diode_removed,omitempty"`
	Shorted      *bool `json:"shorted,omitempty"`
}

// VehicleStatus is what a Vehicle's HTTP handler reports.
type VehicleStatus struct {
	State    string  `json:"state"`     // control-pilot state the vehicle presents: A … F
	OfferedA float64 `json:"offered_a"` // current the EVSE offers it
	DrawingA float64 `json:"drawing_a"` // current it takes while requesting
}

// ServeHTTP lets a demo or a black-box test drive the vehicle (no
// authentication: serve it on loopback only). GET reports VehicleStatus;
// POST applies a VehicleRequest, e.g. {"plugged":true,"request":true}, and
// answers with the new status.
func (v *Vehicle) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		var req VehicleRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<12))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			http.Error(w, "bad request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if req.Plugged != nil {
			if *req.Plugged {
				v.Plug()
			} else {
				v.Unplug()
			}
		}
		if req.Request != nil {
			v.Request(*req.Request)
		}
		if req.Ventilation != nil {
			v.Ventilation(*req.Ventilation)
		}
		if req.DiodeRemoved != nil {
			v.RemoveDiode(*req.DiodeRemoved)
		}
		if req.Shorted != nil {
			v.Short(*req.Shorted)
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	v.mu.Lock()
	offer := v.offer
	v.mu.Unlock()
	st := VehicleStatus{State: v.State().String(), OfferedA: float64(offer) / 1e9, DrawingA: float64(v.Drawing()) / 1e9}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}
