// A CommonJS worker entry of the consumer project: require('bgworkers/worker') as installed.
'use strict';
const { defineWorker } = require('bgworkers/worker');
module.exports = defineWorker((ctx) => ({ data: ctx.data, pid: process.pid }));
