module github.com/the-mesh/mesh

go 1.26.0

require (
	github.com/gobwas/ws v1.4.0
	golang.org/x/time v0.16.0
)

require golang.org/x/sys v0.6.0 // indirect

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/pool v0.2.1 // indirect
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
	golang.org/x/text v0.44.0
)
