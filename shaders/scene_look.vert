#version 330 core
// scene.vert for the richer looks (scene_look.frag): the same projection, snapping, tiles and
// clip distances as scene.vert (see there; the positions are bit for bit the same), and also
// the camera-frame position, the texture coordinates and corner colours, perspective-correct by
// hand, and the instance's place in the batch for the per-image lights.

in vec3 in_position;     // object frame
in vec3 in_normal;       // unit, object frame
in vec2 in_uv;           // texture coordinates, v up (0 where untextured)
in vec3 in_colour;       // sRGB albedo factor of the corner, [0, 1]

in mat3 in_rotation;     // numpy R, row-major == GLSL column-major R^T: p * in_rotation == R p
in vec3 in_translation;  // t, camera frame, object units

uniform vec2 u_focal;      // fx, fy, px
uniform vec2 u_principal;  // cx, cy, px (S/2, S/2)
uniform vec2 u_depth_range;  // near, far camera z mapped to the depth buffer's [-1, 1]
uniform float u_tile;      // tile side, px (the image size)
uniform vec2 u_target;     // viewport size, px (powers of two)

noperspective out float v_inv_z;          // 1 / camera z
noperspective out vec3 v_position_over_z; // object frame / z
noperspective out vec3 v_normal_obj_over_z;
noperspective out vec3 v_normal_cam_over_z;
noperspective out vec3 v_camera_over_z;   // camera frame / z
noperspective out vec2 v_uv_over_z;
noperspective out vec3 v_colour_over_z;
flat out int v_instance;                  // the pose's place in the batch
out float gl_ClipDistance[4];

const float SUBPIXELS = 256.0;

vec2 snap(vec2 p) {
    return floor(p * SUBPIXELS + 0.5) / SUBPIXELS;
}

void main() {
    vec3 cam = in_position * in_rotation + in_translation;  // cam.z >= d - 1 > 0: the camera is outside
    float inv_z = 1.0 / cam.z;
    vec2 pixel = snap(vec2(u_focal.x * cam.x, u_focal.y * cam.y) * inv_z + u_principal);  // in the tile, y down
    float near = u_depth_range.x;
    float far = u_depth_range.y;
    // Tile k's top edge lies at GL row (k + 1) S; image rows run down from it.
    float row_up = float(gl_InstanceID + 1) * u_tile - pixel.y;
    float depth = (far + near) / (far - near) - 2.0 * far * near / (far - near) * inv_z;  // affine in 1/z
    gl_Position = vec4(pixel.x / u_target.x * 2.0 - 1.0, row_up / u_target.y * 2.0 - 1.0, depth, 1.0);
    // Keep every pose inside its own tile: 0 <= u <= S and 0 <= v <= S (enabled only when a
    // pose's bounding ball could leave its tile).
    gl_ClipDistance[0] = pixel.x;
    gl_ClipDistance[1] = u_tile - pixel.x;
    gl_ClipDistance[2] = pixel.y;
    gl_ClipDistance[3] = u_tile - pixel.y;
    v_inv_z = inv_z;
    v_position_over_z = in_position * inv_z;
    v_normal_obj_over_z = in_normal * inv_z;
    v_normal_cam_over_z = (in_normal * in_rotation) * inv_z;
    v_camera_over_z = cam * inv_z;
    v_uv_over_z = in_uv * inv_z;
    v_colour_over_z = in_colour * inv_z;
    v_instance = gl_InstanceID;
}
