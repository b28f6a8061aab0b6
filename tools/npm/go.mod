// The npm tools are no Go code: this file keeps the packages under
// node_modules (the CDK CLI ships Go templates) out of the main module.
module github.com/videoai/mediatasks/tools/npm

go 1.26
