declare module 'dcmjs' {
  const dcmjs: unknown;
  export default dcmjs;
}
