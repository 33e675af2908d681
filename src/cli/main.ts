#!/usr/bin/env node
console.log("l7proxy");
