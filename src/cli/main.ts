#!/usr/bin/env node
console.log('latch');
