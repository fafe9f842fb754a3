// The pack's library (`require('@aiware-nodered/node-red-aiware')`): the aiWARE protocol core with
// no Node-RED in it, which the runner, the simulator and an engine's own tests share with the nodes.
export * from './protocol';
export * from './errors';
export * from './fields';
export * from './body';
export * from './tasks';
export * from './webhooks';
export * from './vtn';
export * from './host';
