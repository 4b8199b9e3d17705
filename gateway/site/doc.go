// Package site is the box's load management: it shares a site limit measured at the grid meter among the charging points, stacks limits from several sources, falls back when the operator link is lost, and charges from PV surplus.
//
// It knows nothing of package gateway: the gateway reports vehicles, limits and the
// operator link to a Manager, and runs a Loop that reads the grid meter (any GridMeter;
// *meter.Meter is one) and applies the allowed currents through Setters (hal.CurrentControl
// is one: the control pilot or an EVSE controller over Modbus).
//
// # Inputs
//
//   - EVSEs (Config.EVSEs): ID 1..255, 1 or 3 phases (a single-phase one on Line 1..3), Min
//     (default 6 A) and Max current per phase, Mode grid or pv.
//   - Vehicles (Manager.SetVehicle): connected (control-pilot state B, C, D), requesting
//     (C, D), and the current measured at the EVSE's own meter.
//   - Limits (Manager.SetLimit): a ceiling per EVSE, or on the sum of all EVSEs (EVSE 0),
//     from an Origin — configuration, operator (MQTT), OCPP smart charging — with an
//     optional expiry. A positive limit is a setpoint ceiling; 0 pauses. One limit per
//     origin and EVSE is in force; limits stack: the lowest in force wins; an expired limit
//     is dropped at the next tick.
//   - The grid meter (Loop reads it; Manager.SetGrid): signed current per line, import
//     positive, export negative, and the total power.
//   - The operator link (Manager.SetLink).
//
// # Output
//
// Manager.Compute (called by Loop.Step every tick, default 1 s) gives every EVSE an allowed
// current per phase — 0 pauses — rounded down to Config.Step (0.1 A), and a Reason: the
// limit that bound it (evse_max, a limit's origin, site_limit, site_min, standby,
// grid_stale, pv_surplus, pv_hold, pv_wait, no_vehicle).
//
// # Wiring (what the gateway does)
//
//	m, _ := site.New(cfg)                        // from the configuration file
//	m.SetLimit(site.Limit{Origin: site.OriginConfig, EVSE: id, Current: c})
//	loop, _ := site.NewLoop(m, gridMeter, map[uint8]site.Setter{id: currentControl}, site.LoopConfig{
//		OnChange: func(c site.Change) { /* record an event entry naming c.EVSE */ },
//	})
//	go loop.Run(ctx)                             // pauses every EVSE when ctx ends
//	m.SetVehicle(id, site.Vehicle{...})          // after each poll of an EVSE's meter and pilot
//	m.SetLink(connected, time.Now())             // on every change of the operator link
//	m.SetLimit / ClearLimit                      // operator commands, OCPP profiles
//	m.SetMode(id, site.ModePV)                   // an operator or the UI choosing PV mode
//	loop.Last()                                  // allowed current and reason, for status
//
// The EVSE's Min must be at least its backend's minimum (hal.MinCurrent, 6 A, for the
// pilot): the loop only ever sets 0 or a value in [Min, Max].
//
// # Rules, applied in this order each tick
//
//  1. No vehicle connected: 0 A (no_vehicle).
//  2. Ceiling: the EVSE's Max, lowered by every per-EVSE limit in force, and by
//     Config.Fallback while the operator link has been down for longer than
//     Config.FallbackAfter (rule 5). A vehicle connected but not requesting (state B) is
//     offered only its Min (standby): IEC 61851-1 lets a vehicle request energy only while
//     a PWM offer is present, so a vehicle in B given 0 A could never start; it costs the
//     site its Min until it requests or leaves. A ceiling below Min pauses the EVSE, with
//     the limit's origin as reason (a 4 A limit on a 6 A-minimum EVSE is a pause, never a
//     round-up: a limit is never exceeded).
//  3. PV mode (rule 6) lowers the ceiling of PV-mode EVSEs to their share of the surplus,
//     or pauses them.
//  4. Site limit and fair share. The budget is, for the worst line,
//     SiteLimit − (grid current − the EVSEs' own measured current on that line): what the
//     rest of the site leaves. The rest of the site's load is estimated per line, taking a
//     rise at once and a fall with the time constant BaseSmoothing (5 s): the grid meter
//     and the EVSE meters are never read at the same instant, and while vehicles ramp the
//     estimate errs by what they ramped in between; keeping the high side of that error
//     stops the loop from chasing it (without it, a 1 s skew and vehicles ramping at
//     3 A/s made the rig swing between 26 and 38 A around a 32 A limit). OpenEVSE smooths its live
//     power the same way. A box-wide limit (Limit.EVSE 0) lowers the budget further.
//     The budget is shared max-min fairly: every EVSE gets the same current L, clamped to
//     [Min, ceiling], with L the largest multiple of Step for which the sum stays within the
//     budget; an EVSE whose ceiling is below L keeps its ceiling and the rest is shared
//     among the others. Minimum-current rule: when the budget cannot give every EVSE its
//     Min, EVSEs are paused (site_min) one by one until it can — first those not
//     requesting, then the one whose vehicle arrived last (first come, first served) — and
//     the rest is shared again. A paused EVSE resumes only after the budget has covered its
//     Min for Config.ResumeDelay (1 min), so a budget hovering at the threshold does not
//     start and stop a vehicle every tick. The budget's sum is a bound for every line,
//     because an EVSE draws at most its allowed current on any line; mixing single- and
//     three-phase EVSEs is therefore conservative for the lines a single-phase EVSE does
//     not use. In steady state the grid carries base + Σ drawn ≤ base + Σ allowed ≤
//     SiteLimit.
//  5. Fallback. While the operator link is down for longer than FallbackAfter (counted
//     from the first tick if it was never up), every EVSE's ceiling is at most Fallback;
//     when the link returns, the fallback is lifted at the next tick. Limits given by the
//     operator before the loss stay in force until their expiry, so an operator who wants
//     a dimming to end by itself gives it an expiry — the pattern evcc proposes for §14a
//     (a short-lived profile plus a TxDefaultProfile fallback, evcc-io/evcc#25013).
//     §14a EnWG: a grid operator may dim a controllable consumer device to no less than
//     4.2 kW (BNetzA decision BK6-22-300; as summarised by network operators, e.g.
//     netzwerke-merzig.de "Mindestbezug von 4,2 kW"). Config.FallbackMinPower =
//     Para14aMinPower makes New reject a fallback below it: on three phases at 230 V that
//     is 6.1 A, not 6 A (6 A × 3 × 230 V = 4.14 kW); on one phase 18.3 A (CurrentFor).
//  6. PV surplus. Surplus = export at the grid meter + what the PV-mode EVSEs draw now
//     (their own draw is surplus they already use; without adding it back, charging would
//     consume the surplus and stop itself). Running PV EVSEs come first, then waiting ones,
//     each by arrival; each in turn is covered if the surplus left still holds its
//     minimum power Min × phases × voltage (6 A × 3 × 230 V = 4140 W; one phase: 1380 W).
//     Grid-mode EVSEs draw from the export like any other load, so PV mode gets what they
//     leave. A waiting EVSE starts after being covered for PVStartDelay (default 1 min), at Min;
//     a running one gets an equal share of the surplus (never below Min, never above its
//     ceiling) while covered; when not covered it is held at Min (pv_hold, drawing a little
//     from the grid) and stops after PVStopDelay (default 3 min) without cover. These
//     are evcc's defaults (core/loadpoint.go NewLoadpoint: Enable delay 1 min, Disable
//     delay 3 min, thresholds 0 W, minCurrent 6 A). The delays are the hysteresis in both
//     directions: a cloud shorter than 3 min does not stop a session, a gap in the clouds
//     shorter than 1 min does not start one.
//  7. Grid meter not read for GridTimeout (10 s), or never: grid-mode EVSEs are held at
//     their Min (grid_stale), PV-mode ones pause. The base load is unknown; the minimum
//     keeps sessions alive at the least load the pilot can offer. OpenEVSE's current
//     shaper pauses instead when its live power is not updated within its data interval
//     (src/current_shaper.cpp); we prefer not to end sessions over a bus hiccup and note
//     that main fuses tolerate a small overload for minutes (their time-current curve).
//
// # Events
//
// Loop reports every change of an EVSE's allowed current to LoopConfig.OnChange (the
// gateway records it in the chain), rate-limited per EVSE so a noisy grid meter does not
// flood the chain: a pause (to 0) or resume (from 0) is reported at once; any other change
// is reported at the first tick at least EventInterval (default 30 s) after the previous
// report, with the value of that tick, From the last reported value and Coalesced the
// number of changes it sums up; a change that returns to the last reported value before
// then is not reported. So at most one event per EVSE per EventInterval, besides pauses and
// resumes (themselves held back by ResumeDelay and the PV delays), and the last event
// always tells the current in force. The first tick reports each EVSE's starting value.
//
// # What others do
//
//   - evcc: load management by hierarchical circuits with maxCurrent/maxPower (documented
//     as experimental, docs.evcc.io/en/features/loadmanagement); loadpoints have a
//     priority; PV and Min+PV modes with enable/disable thresholds and delays (1 min /
//     3 min by default, core/loadpoint.go); minCurrent 6 A.
//   - EVerest: an energy tree — EnergyManager at the root, EnergyNode for each fuse or
//     building section, EvseManager leaves — distributing limits from the root; external
//     limits (grid, solar) enter through the nodes (docs/source/explanation/
//     energymanagement, modules/EnergyManagement).
//   - OpenEVSE: the current shaper computes the EVSE's current as (max_pwr − live_pwr) /
//     voltage (/3 on three phases) + the EVSE's own current — the same "limit minus the rest
//     of the site" as rule 4 — pauses below the minimum current and resumes only after a
//     minimum pause time and a hysteresis (src/current_shaper.cpp); it has one EVSE, so no
//     sharing.
//
// # Settling
//
// How fast the grid current is back under the site limit after a step in the base load
// is the tick, plus the grid meter's read, plus how fast the vehicle follows a lower
// offer (IEC 61851-1 gives a vehicle 5 s to follow a PWM reduction). BenchmarkSettling
// measures it against metersim over Modbus TCP; it is reported, never asserted. Measured
// on this project's build machine (simulated time; vehicles ramping at 2.9 A/s per phase;
// the step lands just after a tick, so detection takes a whole tick):
//
//	go test -run '^$' -bench Settling -benchtime 10x ./gateway/site/
//	step +6 A (both vehicles 10.9 → 8 A):   tick 1 s: 2.0 s   500 ms: 1.5 s   250 ms: 1.24 s
//	step +10 A (one vehicle pauses):        tick 1 s: 4.4 s (worst 4.6 s)   250 ms: 3.6 s
//	peak at the connection point: 37.8 A and 41.8 A over the 32 A limit, for those seconds
//
// A pause takes longer because the paused vehicle ramps down from 10.9 A to nothing. One
// tick over Modbus TCP on loopback (two EVSE meters and the grid meter read, policy,
// setpoints) took about 0.1 ms of wall time (BenchmarkStep).
package site
