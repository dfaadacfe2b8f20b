module mproc

go 1.19
