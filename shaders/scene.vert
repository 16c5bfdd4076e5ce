#version 330 core
// Any scene object under a pinhole camera (shared/spec/SCENES.md), one instance per pose, each
// drawn into its own tile of a one-column atlas.
// Frames: object frame; camera frame x right, y down, z forward. x_cam = R x_obj + t.
// Projection: u = fx x/z + cx, v = fy y/z + cy, pixels inside the tile, y down.

in vec3 in_position;     // object frame
in vec3 in_normal;       // unit, object frame

in mat3 in_rotation;     // numpy R, row-major == GLSL column-major R^T: p * in_rotation == R p
in vec3 in_translation;  // t, camera frame, object units

uniform vec2 u_focal;      // fx, fy, px
uniform vec2 u_principal;  // cx, cy, px (S/2, S/2)
uniform vec2 u_depth_range;  // near, far camera z mapped to the depth buffer's [0, 1]
uniform float u_tile;      // tile side, px (the image size)
uniform vec2 u_target;     // render target size, px (powers of two)

out vec3 v_position;       // object frame
out vec3 v_normal_obj;     // object frame (interpolated, not normalised)
out vec3 v_normal_cam;     // camera frame (interpolated, not normalised)
out float v_depth;         // camera z, object units
out float gl_ClipDistance[4];

void main() {
    vec3 cam = in_position * in_rotation + in_translation;
    vec3 normal_cam = in_normal * in_rotation;
    float near = u_depth_range.x;
    float far = u_depth_range.y;
    // Tile k's top-left corner sits k tiles down the column (y down in the target).
    float origin_y = float(gl_InstanceID) * u_tile;
    // Clip coordinates, written so that x/w and y/w are the NDC of target pixel
    // (u, origin_y + v) and z/w is the depth of camera z, all linear in cam.
    float cx = u_principal.x;
    float cy = origin_y + u_principal.y;
    float x = (2.0 * cx / u_target.x - 1.0) * cam.z + 2.0 * u_focal.x * cam.x / u_target.x;
    float y = (1.0 - 2.0 * cy / u_target.y) * cam.z - 2.0 * u_focal.y * cam.y / u_target.y;
    float z = (far + near) / (far - near) * cam.z - 2.0 * far * near / (far - near);
    gl_Position = vec4(x, y, z, cam.z);
    // Keep every pose inside its own tile: 0 <= u <= S and 0 <= v <= S, as u * z and v * z.
    float uz = u_focal.x * cam.x + u_principal.x * cam.z;
    float vz = u_focal.y * cam.y + u_principal.y * cam.z;
    gl_ClipDistance[0] = uz;
    gl_ClipDistance[1] = u_tile * cam.z - uz;
    gl_ClipDistance[2] = vz;
    gl_ClipDistance[3] = u_tile * cam.z - vz;
    v_position = in_position;
    v_normal_obj = in_normal;
    v_normal_cam = normal_cam;
    v_depth = cam.z;
}
