// Built in GOPATH mode from Debian packages (see ../up); this file only lets
// imports with /vN suffixes resolve (Go's minimal module compatibility).
module controlplane

go 1.24
