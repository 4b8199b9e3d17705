package web

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// maxQRText bounds what GET /api/v1/qr encodes (an OCMF record is well below; a QR code at
// level L holds at most 2,953 bytes).
const maxQRText = 2900

// qr serves GET /api/v1/qr?text=…: the text as a QR code in SVG, drawn on the server so the
// page needs no library.
func (s *Server) qr(w http.ResponseWriter, r *http.Request) {
	text := r.URL.Query().Get("text")
	if text == "" || len(text) > maxQRText {
		http.Error(w, fmt.Sprintf("text must be 1..%d bytes", maxQRText), http.StatusBadRequest)
		return
	}
	level := qrcode.Medium
	if len(text) > 1200 {
		level = qrcode.Low
	}
	q, err := qrcode.New(text, level)
	if err != nil {
		http.Error(w, "qr: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "private, max-age=86400")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	WriteQRSVG(w, q.Bitmap())
}

// WriteQRSVG draws a QR bitmap (true = dark, quiet zone included) as one SVG path, one unit
// per module, black on white.
func WriteQRSVG(w io.Writer, bm [][]bool) error {
	n := len(bm)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges" role="img">`, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bm {
		for x := 0; x < len(row); x++ {
			if !row[x] {
				continue
			}
			run := 1
			for x+run < len(row) && row[x+run] {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x, y, run, run)
			x += run - 1
		}
	}
	b.WriteString(`"/></svg>`)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeTransparencyXML writes a session's OCMF record in the S.A.F.E. Transparenzsoftware's
// input format (values.xsd: <values><value transactionId><signedData format="OCMF"
// encoding="plain"> with the record and <publicKey encoding="hex">).
func writeTransparencyXML(w io.Writer, d *SessionDetail) error {
	type signed struct {
		Format   string `xml:"format,attr"`
		Encoding string `xml:"encoding,attr"`
		Text     string `xml:",chardata"`
	}
	type key struct {
		Encoding string `xml:"encoding,attr"`
		Text     string `xml:",chardata"`
	}
	type value struct {
		TransactionID string `xml:"transactionId,attr"`
		SignedData    signed `xml:"signedData"`
		PublicKey     *key   `xml:"publicKey,omitempty"`
	}
	v := value{TransactionID: d.ID, SignedData: signed{Format: "OCMF", Encoding: "plain", Text: d.OCMF}}
	if d.OCMFKey != "" {
		v.PublicKey = &key{Encoding: "hex", Text: d.OCMFKey}
	}
	io.WriteString(w, xml.Header)
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(struct {
		XMLName xml.Name `xml:"values"`
		Value   value    `xml:"value"`
	}{Value: v}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
